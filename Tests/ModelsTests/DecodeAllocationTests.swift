#if canImport(Glibc)
import Glibc
#endif
import CKernels
import Engine
import GGUF
import Kernels
import MallocCounter
import Models
import TestSupport
import Testing

/// The steady-state decode step allocates nothing: the model's forward pass and the sampler run
/// on preallocated workspaces, and the hot parallel loops are handed to the pool's workers as
/// objects. Counted with the test binary's malloc counter, per thread, so tests running
/// alongside do not disturb the count. Serialized: the watch on pool workers is process-wide,
/// so two of these tests at once would count each other's workers.
@Suite(.serialized) struct DecodeAllocationTests {
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

    /// Steps until three in a row allocate nothing on any watched thread (at most 64 steps). On a
    /// busy machine the caller can run the first steps' loops before a parked worker wakes; that
    /// worker then sizes its thread-local scratch the first time it joins, which is warm-up, not a
    /// steady-state allocation (CI saw it once). A step that always allocates never gets quiet, so
    /// the measured steps after this still catch it. Call with the pool's workers watched.
    static func warmUp(_ pool: ThreadPool, _ step: () -> Void) {
        // A worker that took no item of the steps so far would size its kernel scratch the
        // first time it does: every thread reserves more than these models' kernels ask.
        pool.onEveryThread { _ = pg_thread_scratch_reserve(16 << 20) }
        var quiet = 0
        for _ in 0..<64 where quiet < 3 {
            let workersBefore = pg_malloc_counter_watched_count()
            let mine = allocations(step)
            quiet = mine + pg_malloc_counter_watched_count() - workersBefore == 0 ? quiet + 1 : 0
        }
    }

    /// malloc behind a mutable global, so the optimizer cannot pair it with its free and drop both.
    nonisolated(unsafe) static var allocate: (Int) -> UnsafeMutableRawPointer? = { malloc($0) }

    /// A watched pool's workers are counted. On a loaded machine the caller can finish a loop
    /// before a parked worker wakes (CI saw it once), so loops repeat until the worker took part.
    @Test func counterSeesAPoolWorkersAllocations() {
        let pool = ThreadPool(threadCount: 2)
        let workers = pool.workerThreadIDs.map { UInt($0) }
        workers.withUnsafeBufferPointer { pg_malloc_counter_watch($0.baseAddress, Int32($0.count)) }
        defer { pg_malloc_counter_watch(nil, 0) }
        let before = pg_malloc_counter_watched_count()
        for _ in 0..<200 where pg_malloc_counter_watched_count() == before {
            pool.parallelFor(100_000) { i in free(Self.allocate(16 + i % 3)) }
        }
        #expect(pg_malloc_counter_watched_count() - before >= 1)
    }

    /// Greedy decode of `sequences` sequences, one token each per step; the steps after warm-up
    /// must not allocate. With one thread every kernel runs on this thread; with two, this
    /// thread's share and the hand-offs to the worker (ten sequences take the parallel per-token
    /// loops and the parallel activation quantization too).
    @Test(arguments: [(threads: 1, sequences: 1), (threads: 2, sequences: 1), (threads: 2, sequences: 10)],
          [KVPrecision.float16, .float32])
    func steadyStateDecodeStepAllocatesNothing(shape: (threads: Int, sequences: Int), precision: KVPrecision) throws {
        let file = try GGUFFile(path: TestPaths.defaultModel)
        let model = try ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: shape.threads))
        Self.expectNoAllocations(model, sequences: shape.sequences, precision: precision)
    }

    /// The same on a mixture-of-experts model (qwen2moe: routing, grouped expert products over
    /// whichever experts each step picks, the shared expert), with replicas in the expert map.
    @Test(arguments: [(threads: 1, sequences: 1), (threads: 2, sequences: 1), (threads: 2, sequences: 10)])
    func moeDecodeStepAllocatesNothing(shape: (threads: Int, sequences: Int)) throws {
        let spec = TinyModel(architecture: "qwen2moe", hidden: 128, heads: 4, kvHeads: 2, headDim: 32, contextLength: 512,
                             matrixType: .q4_1, seed: 51).withExperts(16, used: 4)
        let model = try ModelArchitectures.load(file: GGUFFile(bytes: spec.write()), pool: ThreadPool(threadCount: shape.threads))
        try #require(model.expertRouter).setRedundantExperts(4)
        Self.expectNoAllocations(model, sequences: shape.sequences, precision: .float16)
    }

    /// A model with a nextn layer: the target's step (keeping every token's hidden state) and the
    /// predictor's step on those hidden states allocate nothing either.
    @Test(arguments: [(threads: 1, sequences: 1), (threads: 2, sequences: 10)])
    func nextTokenPredictorStepAllocatesNothing(shape: (threads: Int, sequences: Int)) throws {
        let spec = TinyModel(architecture: "qwen2", hidden: 128, heads: 4, kvHeads: 2, headDim: 32, contextLength: 512,
                             matrixType: .q4_1, tiedEmbeddings: false, seed: 52).withNextN()
        let model = try ModelArchitectures.load(file: GGUFFile(bytes: spec.write()), pool: ThreadPool(threadCount: shape.threads))
        let predictor = try #require(model.nextTokenPredictor)
        Self.expectNoAllocations(model, sequences: shape.sequences, precision: .float16)
        let s = shape.sequences, blocks = 8
        let cache = predictor.makeKVCache(numBlocks: s * blocks)
        let tables = (0..<s).map { q in (0..<Int32(blocks)).map { Int32(q * blocks) + $0 } }
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: s * model.config.hiddenSize)
        defer { hidden.deallocate() }
        hidden.initialize(repeating: 0.5, count: s * model.config.hiddenSize)
        let workspace = ForwardWorkspace()
        var batch = ForwardBatch()
        var position: Int32 = 0
        func step() {
            batch.removeAll(blockTableStride: blocks)
            for q in 0..<s {
                let seq = batch.addSequence(blockTable: tables[q])
                batch.addToken(Int32(q + 1), position: position, sequence: seq, wantsLogits: true)
            }
            let out = predictor.forward(batch, hidden: hidden, cache: cache, workspace: workspace)
            hidden.update(from: out.hidden.baseAddress!, count: out.hidden.count)
            position += 1
        }
        for _ in 0..<4 { step() }
        let workers = model.pool.workerThreadIDs.map { UInt($0) }
        workers.withUnsafeBufferPointer { pg_malloc_counter_watch($0.baseAddress, Int32($0.count)) }
        defer { pg_malloc_counter_watch(nil, 0) }
        Self.warmUp(model.pool, step)
        var counts: [Int64] = []
        counts.reserveCapacity(8)
        for _ in 0..<8 {
            let workersBefore = pg_malloc_counter_watched_count()
            counts.append(Self.allocations(step) + pg_malloc_counter_watched_count() - workersBefore)
        }
        #expect(counts.allSatisfy { $0 == 0 }, "allocations per predictor step: \(counts)")
    }

    static func expectNoAllocations(_ model: any CausalLM, sequences s: Int, precision: KVPrecision) {
        let shape = (threads: model.pool.threadCount, sequences: s)
        let blocksPerSequence = 8
        let cache = model.makeKVCache(numBlocks: s * blocksPerSequence, precision: precision)
        let tables = (0..<s).map { q in (0..<Int32(blocksPerSequence)).map { Int32(q * blocksPerSequence) + $0 } }
        let workspace = ForwardWorkspace()
        var batch = ForwardBatch()
        var sampler = Sampler()
        var rng = RandomGenerator(seed: 1)
        let params = SamplingParams.greedy(maxTokens: 64)
        var tokens = (0..<s).map { Int32(1 + $0) }
        var position: Int32 = 0
        func step() {
            batch.removeAll(blockTableStride: blocksPerSequence)
            for q in 0..<s {
                let seq = batch.addSequence(blockTable: tables[q])
                batch.addToken(tokens[q], position: position, sequence: seq, wantsLogits: true)
            }
            let logits = model.forward(batch, cache: cache, workspace: workspace)
            let v = model.config.vocabSize
            for q in 0..<s {
                tokens[q] = Int32(sampler.sample(UnsafeBufferPointer(rebasing: logits[(q * v)..<((q + 1) * v)]), params: params, rng: &rng))
            }
            position += 1
        }
        for _ in 0..<4 { step() }
        var counts: [Int64] = [], handOffs: [Int64] = []
        counts.reserveCapacity(8)
        handOffs.reserveCapacity(8)
        // The pool's workers are counted too (their allocations go into one shared count).
        let workers = model.pool.workerThreadIDs.map { UInt($0) }
        workers.withUnsafeBufferPointer { pg_malloc_counter_watch($0.baseAddress, Int32($0.count)) }
        defer { pg_malloc_counter_watch(nil, 0) }
        Self.warmUp(model.pool, step)
        for _ in 0..<8 {
            let before = model.pool.closuresHandedOff
            let workersBefore = pg_malloc_counter_watched_count()
            let mine = Self.allocations(step)
            counts.append(mine + pg_malloc_counter_watched_count() - workersBefore)
            handOffs.append(Int64(model.pool.closuresHandedOff - before))
        }
        print("decode step, \(shape.threads) threads (\(workers.count) workers watched), \(s) sequences, \(precision.rawValue) KV: allocations, every thread \(counts)")
        #expect(workers.count == shape.threads - 1)
        #expect(counts.allSatisfy { $0 == 0 }, "allocations per decode step: \(counts)")
        #expect(handOffs.allSatisfy { $0 == 0 }, "closures handed to the pool per step: \(handOffs)")
    }
}
