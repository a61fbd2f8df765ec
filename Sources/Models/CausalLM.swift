import GGUF
import Kernels

/// What the engine knows of a model: its configuration, the layout of its KV cache, and one
/// forward pass over a batch of sequences. Every architecture implements it; the engine, the
/// runner, the evaluator and the CLI hold an `any CausalLM`.
public protocol CausalLM: AnyObject, Sendable {
    var config: ModelConfig { get }
    var pool: ThreadPool { get }
    /// The model's KV cache groups (vLLM V1's KV cache groups).
    var kvCacheLayout: KVCacheLayout { get }

    /// Runs the batch through the model, writing each token's K/V into `cache`, and returns the
    /// logits of the tokens in `batch.logitIndices` (row-major, `vocabSize` each). The buffer
    /// lives in `workspace` and is valid until its next use.
    func forward(_ batch: ForwardBatch, cache: KVCache, workspace: ForwardWorkspace) -> UnsafeBufferPointer<Float>

    /// The expert map and routing counts of a mixture-of-experts model; nil for a dense one.
    var expertRouter: ExpertRouter? { get }

    /// The multi-token-prediction layer of a model whose file has nextn layers (a drafter for
    /// speculative decoding); nil otherwise. When it is set, every forward pass also leaves each
    /// token's final hidden state in ``ForwardWorkspace/lastHiddenStates`` for it.
    var nextTokenPredictor: NextTokenPredictor? { get }
}

extension CausalLM {
    public var expertRouter: ExpertRouter? { nil }
    public var nextTokenPredictor: NextTokenPredictor? { nil }

    /// A KV cache shaped for this model (half-precision values by default, as llama.cpp keeps them).
    public func makeKVCache(numBlocks: Int, blockSize: Int = 16, precision: KVPrecision = .float16) -> KVCache {
        KVCache(numBlocks: numBlocks, blockSize: blockSize, layout: kvCacheLayout, kvHeads: config.numKVHeads,
                headDim: config.headDim, precision: precision)
    }
}

/// The architectures Peregrine runs, keyed by GGUF's `general.architecture`. Adding one is one
/// file under `Architectures/` that reads its configuration and names its blocks, plus one entry here.
public enum ModelArchitectures {
    /// How a GGUF file's metadata becomes a decoder configuration.
    typealias Configure = @Sendable (GGUFMetadata, String) throws(ModelError) -> ModelConfig

    static let registry: [String: Configure] = [
        "llama": Llama.configure, "mistral": Llama.configure, "qwen2": Llama.configure, "qwen3": Llama.configure,
        "gemma3": Gemma3.configure, "qwen2moe": Qwen2MoE.configure, "qwen3moe": Qwen3MoE.configure,
    ]

    /// Architecture names this build supports.
    public static var supported: [String] { registry.keys.sorted() }

    /// The configuration `file` describes. Throws ``ModelError/unsupportedArchitecture(_:)`` for
    /// an architecture not in the registry, and the architecture's own errors for bad metadata.
    public static func config(of metadata: GGUFMetadata) throws(ModelError) -> ModelConfig {
        let arch: String
        do { arch = try metadata.string("general.architecture") } catch { throw .missingKey("general.architecture") }
        guard let configure = registry[arch] else { throw .unsupportedArchitecture(arch) }
        return try configure(metadata, arch)
    }

    /// Binds the weights of `file` to the model its architecture describes.
    /// - Parameter routedExperts: bind the routed experts of an MoE model; false when they run on
    ///   expert workers (the model's ``CausalLM/expertRouter`` then needs a dispatcher).
    public static func load(file: GGUFFile, pool: ThreadPool, routedExperts: Bool = true) throws(ModelError) -> any CausalLM {
        try DecoderModel(file: file, config: config(of: file.metadata), pool: pool, routedExperts: routedExperts)
    }
}
