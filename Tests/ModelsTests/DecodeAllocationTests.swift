import Engine
import GGUF
import Kernels
import MallocCounter
import Models
import TestSupport
import Testing

/// The steady-state decode step allocates nothing: the model's forward pass and the sampler run
/// on preallocated workspaces. Counted with the test binary's malloc counter, per thread, so tests
/// running alongside do not disturb the count. The one exception is the thread pool's hand-off of
/// a loop to its workers (see ``ThreadPool/loopsHandedOff``), counted and checked separately.
@Suite struct DecodeAllocationTests {
    /// Allocations made on this thread by `body`.
    static func allocations(_ body: () -> Void) -> Int64 {
        let before = pg_malloc_counter_count()
        pg_malloc_counter_arm(1)
        body()
        pg_malloc_counter_arm(0)
        return pg_malloc_counter_count() - before
    }

    @Test func counterSeesSwiftAllocations() {
        var kept: [[Int]] = []
        let n = Self.allocations { kept.append(Array(repeating: 1, count: 100)) }
        #expect(n >= 1)
        #expect(kept.count == 1)
    }

    /// Greedy decode of one sequence; the steps after warm-up must not allocate. With one thread
    /// every kernel runs on this thread; with two, this thread's share and the pool's hand-offs
    /// (one allocation each, nothing more).
    @Test(arguments: [1, 2], [KVPrecision.float16, .float32])
    func steadyStateDecodeStepAllocatesNothing(threads: Int, precision: KVPrecision) throws {
        let file = try GGUFFile(path: TestPaths.defaultModel)
        let model = try LlamaModel(file: file, pool: ThreadPool(threadCount: threads))
        let blockSize = 16, maxTokens = 128
        let cache = model.makeKVCache(numBlocks: maxTokens / blockSize, precision: precision)
        let table = (0..<Int32(cache.numBlocks)).map { $0 }
        let workspace = ForwardWorkspace()
        var batch = ForwardBatch()
        var sampler = Sampler()
        var rng = RandomGenerator(seed: 1)
        let params = SamplingParams.greedy(maxTokens: maxTokens)
        var token: Int32 = 1
        var position: Int32 = 0
        func step() {
            batch.removeAll(blockTableStride: table.count)
            let seq = batch.addSequence(blockTable: table)
            batch.addToken(token, position: position, sequence: seq, slot: position, wantsLogits: true)
            let logits = model.forward(batch, cache: cache, workspace: workspace)
            token = Int32(sampler.sample(logits, params: params, rng: &rng))
            position += 1
        }
        for _ in 0..<4 { step() }
        var counts: [Int64] = [], handOffs: [Int64] = []
        counts.reserveCapacity(8)
        handOffs.reserveCapacity(8)
        for _ in 0..<8 {
            let before = model.pool.loopsHandedOff
            counts.append(Self.allocations(step))
            handOffs.append(Int64(model.pool.loopsHandedOff - before))
        }
        #expect(counts == handOffs, "allocations per decode step: \(counts); loops handed to workers: \(handOffs)")
        if threads == 1 { #expect(handOffs.allSatisfy { $0 == 0 }) }
    }
}
