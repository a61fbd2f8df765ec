import Engine
import GGUF
import Kernels
import MallocCounter
import Models
import TestSupport
import Testing
import Tokenization

/// The whole engine step (schedule, forward, sample, update, detokenize, deltas) in the steady
/// state of decoding. Part of ``DecodeAllocationTests`` so the process-wide watch on pool workers
/// is never shared with another counting test.
///
/// The step allocates only what it hands to the caller: each ``RequestOutput`` owns its piece
/// list and its token ids (the caller keeps them, often on another thread, so they cannot be
/// views of the engine's reused storage), and a piece's text is a heap string only past 15
/// UTF-8 bytes (shorter strings are stored inline). Everything else (scheduling, sampling, the
/// sampled tokens, core outputs, detokenizing, stop-string search, the output list) reuses
/// storage.
extension DecodeAllocationTests {
    struct EngineStepCount {
        var allocations: Int64
        /// What the delivered outputs justify: 2 per piece, 1 more per text past 15 bytes.
        var budget: Int64
    }

    /// Per-step allocations of `LLMEngine.step()` with `requests` greedy requests decoding; 20
    /// steps of 16-token blocks cross a block boundary (new blocks, a full block hashed and cached).
    static func engineStepAllocations(requests: Int, threads: Int, stop: [String] = [], steps: Int = 20, trace: Bool = false) throws -> [EngineStepCount] {
        let file = try GGUFFile(path: TestPaths.defaultModel)
        let model = try ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: threads))
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 256, maxNumSeqs: 16), blockSize: 16,
                                  kvCacheMemory: 64 << 20)
        let engine = try LLMEngine(model: model, tokenizer: Tokenizer(metadata: file.metadata), config: config)
        var params = SamplingParams.greedy(maxTokens: 400)
        params.ignoreEOS = true
        params.stop = stop
        for q in 0..<requests {
            try engine.addRequest(.text("Request \(q): the history of the lighthouse keepers on the northern coast"), params: params)
        }
        // What the last step delivered, counted without keeping its outputs (a caller that holds
        // a step's list while the next step runs makes that step copy the list: one allocation).
        var pieces = 0, longTexts = 0, outputsSeen = 0
        func step() {
            pieces = 0
            longTexts = 0
            let outputs = engine.step()
            outputsSeen = outputs.count
            for output in outputs {
                for piece in output.outputs {
                    pieces += 1
                    if piece.text.utf8.count > 15 { longTexts += 1 }
                }
            }
        }
        // Prefill, and past the first blocks' allocation.
        for _ in 0..<20 { step() }
        let workers = model.pool.workerThreadIDs.map { UInt($0) }
        workers.withUnsafeBufferPointer { pg_malloc_counter_watch($0.baseAddress, Int32($0.count)) }
        defer { pg_malloc_counter_watch(nil, 0) }
        // Warm-up counts the outputs' own allocations too, so it ends on the first quiet forward
        // passes only if it is given a step without them: the kernels' scratch is reserved by it.
        warmUp(model.pool) {}
        for _ in 0..<4 { step() }
        var counts: [EngineStepCount] = []
        counts.reserveCapacity(steps)
        for _ in 0..<steps {
            let workersBefore = pg_malloc_counter_watched_count()
            pg_malloc_counter_trace(trace ? 1 : 0)
            let n = allocations(step) + pg_malloc_counter_watched_count() - workersBefore
            pg_malloc_counter_trace(0)
            counts.append(EngineStepCount(allocations: n, budget: Int64(2 * pieces + longTexts)))
        }
        #expect(outputsSeen == requests && engine.hasUnfinishedRequests)
        return counts
    }

    /// One request on one thread, eight on two (the pool's workers counted), and with stop
    /// strings that never match (text held back and searched every step).
    @Test(arguments: [(requests: 1, threads: 1, stop: [String]()), (8, 2, []), (8, 2, ["\n\n\nTHE END", "lighthouse keeper's log:"])])
    func engineStepAllocatesOnlyItsOutputs(shape: (requests: Int, threads: Int, stop: [String])) throws {
        let counts = try Self.engineStepAllocations(requests: shape.requests, threads: shape.threads, stop: shape.stop, trace: false)
        print("engine step, \(shape.requests) requests, \(shape.threads) threads, \(shape.stop.count) stop strings: allocations \(counts.map(\.allocations)), justified by the outputs \(counts.map(\.budget))")
        #expect(counts.allSatisfy { $0.allocations == $0.budget }, "allocations per engine step beyond its outputs: \(counts)")
    }
}
