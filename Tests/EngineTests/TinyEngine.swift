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

    /// A tiny random model of each architecture on the seam (same vocabulary), for the engine tests
    /// that should hold for all of them; gemma3's has five sliding-window layers (window 6) and a
    /// global one, so its requests hold six block tables; the MoE ones route tokens of different
    /// requests through the same experts.
    static let architectures: [String: any CausalLM] = {
        var gemma = TinyModel(architecture: "gemma3", hidden: 64, heads: 4, kvHeads: 1, headDim: 32, layers: 6, contextLength: 4096, seed: 22)
        gemma.slidingWindow = 6
        let specs = ["qwen2": TinyModel(architecture: "qwen2", contextLength: 4096, seed: 21),
                     "llama": TinyModel(architecture: "llama", contextLength: 4096, seed: 23),
                     "qwen3": TinyModel(architecture: "qwen3", hidden: 48, heads: 4, kvHeads: 1, headDim: 16, contextLength: 4096, seed: 24),
                     "gemma3": gemma, "qwen3moe": moe("qwen3moe", .f32, seed: 25), "qwen2moe q4_1": moe("qwen2moe", .q4_1, seed: 26)]
        return specs.mapValues { try! ModelArchitectures.load(file: GGUFFile(bytes: $0.write()), pool: pool) }
    }()

    /// A tiny MoE model: 8 experts, top 2 (qwen2moe adds its shared expert).
    static func moe(_ architecture: String, _ type: GGMLType, seed: UInt64) -> TinyModel {
        TinyModel(architecture: architecture, contextLength: 4096, matrixType: type, seed: seed).withExperts(8, used: 2)
    }

    /// KV bytes for `blocks` blocks of `blockSize` tokens of `model`.
    static func bytes(blocks: Int, blockSize: Int, model: any CausalLM = model) -> Int {
        let c = model.config
        return model.kvCacheLayout.bytesPerBlock(blockSize: blockSize, kvHeads: c.numKVHeads, headDim: c.headDim, precision: .float16) * blocks
    }

    static func make(blocks: Int = 200, blockSize: Int = 4, budget: Int = 64, maxSeqs: Int = 16, caching: Bool = true,
                     policy: SchedulerConfig.Policy = .fcfs, model: any CausalLM = model) throws -> LLMEngine {
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: maxSeqs, policy: policy),
                                  blockSize: blockSize, kvCacheMemory: bytes(blocks: blocks, blockSize: blockSize, model: model),
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
