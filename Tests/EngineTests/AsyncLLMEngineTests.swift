import Engine
import Foundation
import TestSupport
import Testing

/// `AsyncLLMEngine`: streams, concurrent consumers and cancellation. It waits on the engine's own
/// thread, so `make test` runs it in the second pass, away from the long synchronous model tests
/// that fill Swift's cooperative thread pool (a cancel delayed by them would let the request run on).
@Suite struct AsyncLLMEngineTests {
    @Test func asyncEngineStreamsAndCancels() async throws {
        let engine = AsyncLLMEngine(engine: try TinyEngine.make(blocks: 1100))
        let params = SamplingParams(temperature: 0, maxTokens: 5, ignoreEOS: true)
        var tokens: [Int] = []
        var finished = false
        for try await o in try engine.generate(.tokens([1, 2, 3]), params: params) {
            tokens += o.outputs.flatMap(\.tokenIds)
            finished = o.finished
        }
        #expect(tokens.count == 5 && finished)
        // Several at once.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<6 {
                group.addTask {
                    var n = 0
                    for try await o in try engine.generate(.tokens([i + 1, 7]), params: params) { n += o.outputs.flatMap(\.tokenIds).count }
                    return n
                }
            }
            for try await n in group { #expect(n == 5) }
        }
        // A cancelled consumer aborts its request.
        var long = params
        long.maxTokens = 100_000
        let before = engine.stats.generationTokens
        let task = Task { for try await _ in try engine.generate(.tokens([9, 9]), params: long) {} }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        _ = await task.result
        for _ in 0..<3000 where engine.stats.numRunning + engine.stats.numWaiting > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(engine.stats.numRunning == 0 && engine.stats.numWaiting == 0)
        // Left alone it would have run to the 4,096-token context; the cancel cut it short.
        #expect(engine.stats.generationTokens - before < 3000)
        #expect(throws: InputError.emptyPrompt) { try engine.generate(.tokens([]), params: params) }
        engine.shutdown()
    }

    /// The counts are published before the outputs of the step that changed them: a client that
    /// has its last token and reads the stats at once sees its request finished and its blocks free.
    @Test func statsNeverTrailTheOutputs() async throws {
        let engine = AsyncLLMEngine(engine: try TinyEngine.make(blocks: 100))
        defer { engine.shutdown() }
        let params = SamplingParams(temperature: 0, maxTokens: 3, ignoreEOS: true)
        var received = 0
        for i in 1...40 {
            for try await output in try engine.generate(.tokens([i % 50 + 1, 7, 8]), params: params) {
                received += output.outputs[0].tokenIds.count
                let s = engine.stats
                #expect(s.generationTokens >= received)
                if output.finished {
                    #expect(s.numRunning == 0 && s.kvCacheUsage == 0 && s.finishedRequests == i)
                    #expect(s.generationTokens == 3 * i && s.promptTokens == 3 * i)
                }
            }
        }
    }

    /// Dropping the engine without `shutdown()` stops its loop cleanly (it used to trap: the loop
    /// thread held the engine unowned while `deinit` waited for it); open streams end with an error.
    @Test func droppingTheEngineShutsItDown() async throws {
        var engine: AsyncLLMEngine? = AsyncLLMEngine(engine: try TinyEngine.make(blocks: 1100))
        let stream = try engine!.generate(.tokens([1, 2, 3]), params: SamplingParams(temperature: 0, maxTokens: 100_000, ignoreEOS: true))
        var iterator = stream.makeAsyncIterator()
        _ = try await iterator.next()
        engine = nil
        var ended = false, finished = false
        do {
            while let output = try await iterator.next() { finished = output.finished }
        } catch is CancellationError {
            ended = true
        }
        // A test task starved by other suites can resume only after the request reached the end
        // of the model's context (the loop runs on its own thread): then it finished normally.
        #expect(ended || finished)
        // An idle engine dropped without a request also stops.
        engine = AsyncLLMEngine(engine: try TinyEngine.make(blocks: 100))
        engine = nil
    }
}
