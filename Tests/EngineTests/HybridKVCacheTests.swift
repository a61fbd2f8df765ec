import Engine
import GGUF
import Kernels
import Models
import TestSupport
import Testing
import Tokenization

/// The hybrid KV cache (vLLM V1's KV cache groups) on a tiny Gemma-3-shaped model: five
/// sliding-window layers (window 8) and one global, so each request holds six block tables.
@Suite(.serialized) struct HybridKVCacheTests {
    static let window = 8
    static let file: GGUFFile = {
        var spec = TinyModel(architecture: "gemma3", hidden: 64, heads: 4, kvHeads: 1, headDim: 32, layers: 6, contextLength: 1024,
                             ropeBase: 1_000_000, seed: 31)
        spec.slidingWindow = window
        return try! GGUFFile(bytes: spec.write())
    }()
    static let model = try! ModelArchitectures.load(file: file, pool: TinyEngine.pool)
    static let tokenizer = try! Tokenizer(metadata: file.metadata)

    static func engine(blocks: Int, blockSize: Int = 4, budget: Int = 32, caching: Bool = true) throws -> LLMEngine {
        let c = model.config
        let bytes = model.kvCacheLayout.bytesPerBlock(blockSize: blockSize, kvHeads: c.numKVHeads, headDim: c.headDim, precision: .float16) * blocks
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: 16), blockSize: blockSize,
                                  kvCacheMemory: bytes, enablePrefixCaching: caching)
        return try LLMEngine(model: model, tokenizer: tokenizer, config: config)
    }

    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 77)
        let shared = (0..<24).map { _ in Int.random(in: 0..<60, using: &rng) }
        return (0..<16).map { i in
            (i % 2 == 0 ? shared : []) + (0..<Int.random(in: 3...40, using: &rng)).map { _ in Int.random(in: 0..<60, using: &rng) }
        }
    }

    static func run(_ prompts: [[Int]], engine: LLMEngine, maxTokens: (Int) -> Int) throws -> [[Int]] {
        let ids = try prompts.indices.map { try engine.addRequest(.tokens(prompts[$0]), params: .greedy(maxTokens: maxTokens($0))) }
        let results = engine.runToCompletion()
        return ids.map { results[$0]![0].tokenIds }
    }

    @Test func layoutGroupsTheLayersByAttentionType() {
        let layout = Self.model.kvCacheLayout
        #expect(layout.numGroups == 6 && layout.tensorsPerGroup == 1)
        #expect(layout.groups.filter { $0.attention == .full }.map(\.layers) == [[5]])
        #expect(layout.groups.filter { $0.attention == .slidingWindow(Self.window) }.flatMap(\.layers) == [0, 1, 2, 3, 4])
        let gemma = KVCacheLayout(layerTypes: (0..<18).map { ($0 + 1) % 6 == 0 ? .full : .slidingWindow(512) })
        #expect(gemma.numGroups == 6 && gemma.tensorsPerGroup == 3)
        #expect(gemma.groups[0] == KVCacheGroup(attention: .slidingWindow(512), layers: [0, 1, 2]))
        #expect(gemma.groups.last == KVCacheGroup(attention: .full, layers: [5, 11, 17]))
    }

    /// Batching, chunked prefill, preemption and prefix hits on a hybrid model give each request's
    /// greedy output alone.
    @Test func greedyOutputsMatchRunningAlone() throws {
        let prompts = Self.prompts()
        let maxTokens = { (i: Int) in 6 + i % 9 }
        let together = try Self.engine(blocks: 90)
        let outputs = try Self.run(prompts, engine: together, maxTokens: maxTokens)
        let stats = together.stats
        #expect(TinyEngine.allBlocksFree(together))
        #expect(stats.numPreemptions > 0, "the pool should be small enough to preempt")
        #expect(stats.prefixCache.hits > 0)
        for i in prompts.indices {
            let alone = try Self.run([prompts[i]], engine: Self.engine(blocks: 400, caching: false), maxTokens: { _ in maxTokens(i) })
            #expect(outputs[i] == alone[0], "request \(i)")
        }
    }

    /// While a long request decodes, its sliding-window groups hold only the blocks the window
    /// reaches; its global group holds the whole context; all come back at the end.
    @Test func slidingGroupsFreeBlocksOutsideTheWindow() throws {
        let engine = try Self.engine(blocks: 200, budget: 16)
        let id = try engine.addRequest(.tokens(Array(repeating: 7, count: 50)), params: .greedy(maxTokens: 30))
        let manager = engine.scheduler.kvCacheManager, bs = manager.blockSize
        var maxSliding = 0
        while engine.hasUnfinishedRequests {
            _ = engine.step()
            guard let request = engine.scheduler.request(id) else { continue }
            for (g, kind) in manager.groups.enumerated() {
                let held = request.blockIds[g].filter { $0 >= 0 }.count
                if kind == .full {
                    #expect(held == (request.numComputedTokens + bs - 1) / bs)
                } else {
                    maxSliding = max(maxSliding, held)
                    // The window (8) plus one step's tokens (16) spans at most 7 blocks of 4.
                    #expect(held <= (Self.window + 16 + bs - 1) / bs + 1)
                }
            }
        }
        #expect(maxSliding > 0)
        #expect(TinyEngine.allBlocksFree(engine))
    }

    /// A repeated prompt hits the cache in every group (the sliding groups need only the window's
    /// blocks), and continues exactly as the first run.
    @Test func prefixHitsOnHybridModelKeepOutputs() throws {
        let engine = try Self.engine(blocks: 200)
        var rng = SeededRandom(seed: 5)
        let prompt = (0..<45).map { _ in Int.random(in: 0..<60, using: &rng) }
        let first = try Self.run([prompt], engine: engine, maxTokens: { _ in 12 })
        let before = engine.stats.prefixCache.hits
        let second = try Self.run([prompt], engine: engine, maxTokens: { _ in 12 })
        #expect(engine.stats.prefixCache.hits - before == 44 / 4 * 4)
        #expect(first == second)
        #expect(TinyEngine.allBlocksFree(engine))
    }

    /// The capacity planning counts every group: the longest request fits in the pool alone.
    @Test func maxModelLengthCountsEveryGroup() throws {
        let engine = try Self.engine(blocks: 60, budget: 16)
        let layout = Self.model.kvCacheLayout
        #expect(layout.blocksNeeded(tokens: engine.maxModelLength, blockSize: 4, chunkTokens: 16) <= 60)
        #expect(layout.blocksNeeded(tokens: engine.maxModelLength + 4, blockSize: 4, chunkTokens: 16) > 60)
    }
}
