import Engine
import Testing

/// `bench latency`'s tests straight through the model, with and without context already in the
/// cache (llama-bench's `-d`): the cache and block tables cover the depth plus the longer test,
/// including a depth that is not a multiple of the block or chunk size.
struct LatencyBenchmarkTests {
    @Test(arguments: [0, 37, 600])
    func runsAtEveryDepth(depth: Int) {
        let result = LatencyBenchmark(model: TinyEngine.model, promptTokens: 20, generatedTokens: 6, depth: depth).run(repetitions: 2)
        #expect(result.promptRuns.count == 2 && result.generationRuns.count == 2)
        #expect((result.promptRuns + result.generationRuns).allSatisfy { $0.isFinite && $0 > 0 })
    }
}
