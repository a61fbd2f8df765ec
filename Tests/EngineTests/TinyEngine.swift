import Engine
import Foundation
import GGUF
import Kernels
import Models
import TestSupport
import Tokenization

/// An engine over a tiny random model (fast enough for thousands of steps).
enum TinyEngine {
    static let pool = ThreadPool(threadCount: 2)
    static let file = try! GGUFFile(bytes: TinyModel(architecture: "qwen2", contextLength: 4096, seed: 21).write())
    static let model = try! ModelArchitectures.load(file: file, pool: pool)
    static let tokenizer = try! Tokenizer(metadata: file.metadata)

    /// KV bytes for `blocks` blocks of `blockSize` tokens of this model.
    static func bytes(blocks: Int, blockSize: Int) -> Int {
        let c = model.config
        return model.kvCacheLayout.bytesPerBlock(blockSize: blockSize, kvHeads: c.numKVHeads, headDim: c.headDim, precision: .float16) * blocks
    }

    static func make(blocks: Int = 200, blockSize: Int = 4, budget: Int = 64, maxSeqs: Int = 16, caching: Bool = true,
                     policy: SchedulerConfig.Policy = .fcfs) throws -> LLMEngine {
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: maxSeqs, policy: policy),
                                  blockSize: blockSize, kvCacheMemory: bytes(blocks: blocks, blockSize: blockSize),
                                  enablePrefixCaching: caching)
        return try LLMEngine(model: model, tokenizer: tokenizer, config: config)
    }

    /// Every block is back in the free queue with ref count 0.
    static func allBlocksFree(_ engine: LLMEngine) -> Bool {
        let pool = engine.scheduler.kvCacheManager.blockPool
        return pool.numFreeBlocks == pool.blocks.count && pool.blocks.allSatisfy { $0.refCount == 0 }
            && engine.scheduler.kvCacheManager.numRequests == 0
    }
}
