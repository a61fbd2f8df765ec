import GGUF
import Kernels

/// The activation of a gated MLP: act(gate) · up.
public enum MLPActivation: String, Sendable, Equatable {
    /// SwiGLU: silu(gate) · up (Llama family).
    case silu
    /// GeGLU with the tanh approximation of GELU (Gemma).
    case geluTanh
}

/// Hyper-parameters of a decoder-only transformer, read from GGUF metadata by the architecture's
/// own file (`Architectures/`), which also sets the options that make it that architecture.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    /// Layers of the main model: `block_count` less the ``nextnLayers`` that follow them.
    public var numLayers: Int
    /// Multi-token-prediction ("nextn") layers stored after the main ones (`nextn_predict_layers`,
    /// GLM-4.5 / DeepSeek-V3); the main forward pass never runs them.
    public var nextnLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var ropeDimensions: Int
    /// Rope base of full-attention layers (`rope.freq_base`).
    public var ropeBase: Float
    /// Rope base of sliding-window layers.
    public var ropeBaseSliding: Float
    public var ropeLinearScaling: Float
    public var ropeLayout: Rope.Layout
    public var rmsNormEps: Float
    public var contextLength: Int
    /// Q, K and V projections carry biases (qwen2).
    public var hasQKVBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (qwen3, gemma3).
    public var hasQKNorm: Bool
    /// RMSNorm of the attention output and of the MLP output before each joins the residual
    /// stream (gemma3's `post_attention_norm` and `post_ffw_norm`).
    public var hasPostNorms: Bool
    public var activation: MLPActivation
    /// Embeddings are multiplied by this (gemma: √hidden).
    public var embeddingScale: Float
    /// Queries are multiplied by this before attention.
    public var attentionScale: Float
    /// Logits become c · tanh(logits / c) when set.
    public var finalLogitSoftcap: Float?
    /// Attention type of each layer.
    public var layerTypes: [AttentionType]
    /// The routed experts that replace the dense MLP in every layer (nil: a dense model).
    public var experts: ExpertConfig?

    /// Reads the keys every decoder has, under `arch.`; the options default to a Llama block.
    init(metadata m: GGUFMetadata, architecture arch: String) throws(ModelError) {
        let keys = MetadataKeys(metadata: m, prefix: arch)
        architecture = arch
        hiddenSize = try keys.int("embedding_length")
        numLayers = try keys.int("block_count")
        intermediateSize = try keys.int("feed_forward_length")
        numHeads = try keys.int("attention.head_count")
        numKVHeads = try keys.optionalInt("attention.head_count_kv") ?? numHeads
        contextLength = try keys.optionalInt("context_length") ?? 2048
        guard hiddenSize > 0, numLayers > 0, intermediateSize > 0, numHeads > 0, numKVHeads > 0, contextLength > 0 else {
            throw .invalidConfig("sizes must be positive")
        }
        // Bounds far above any real model, checked before anything is sized by them (a hostile
        // file's block_count of 2³¹ would otherwise ask for tens of GB up front).
        for (key, value, limit) in [("block_count", numLayers, 1 << 12), ("embedding_length", hiddenSize, 1 << 18),
                                    ("feed_forward_length", intermediateSize, 1 << 20), ("attention.head_count", numHeads, 1 << 12),
                                    ("attention.head_count_kv", numKVHeads, 1 << 12)] where value > limit {
            throw .invalidConfig("\(arch).\(key) is \(value), more than \(limit)")
        }
        nextnLayers = try keys.optionalInt("nextn_predict_layers") ?? 0
        guard nextnLayers >= 0, nextnLayers < numLayers else {
            throw .invalidConfig("\(arch).nextn_predict_layers \(nextnLayers) must be less than block_count \(numLayers)")
        }
        numLayers -= nextnLayers
        headDim = try keys.optionalInt("attention.key_length") ?? hiddenSize / numHeads
        guard headDim <= 1 << 14 else { throw .invalidConfig("\(arch).attention.key_length \(headDim) is more than \(1 << 14)") }
        guard headDim > 0, numHeads % numKVHeads == 0 else {
            throw .invalidConfig("head_count \(numHeads) is not a multiple of head_count_kv \(numKVHeads)")
        }
        if let valueLength = try keys.optionalInt("attention.value_length"), valueLength != headDim {
            throw .invalidConfig("value_length \(valueLength) differs from key_length \(headDim)")
        }
        ropeDimensions = try keys.optionalInt("rope.dimension_count") ?? headDim
        guard ropeDimensions > 0, ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
            throw .invalidConfig("rope.dimension_count \(ropeDimensions) must be even and at most the head size \(headDim)")
        }
        ropeBase = Float(try keys.optionalDouble("rope.freq_base") ?? 10_000)
        ropeBaseSliding = ropeBase
        ropeLinearScaling = 1
        if let type = m["\(arch).rope.scaling.type"]?.stringValue, type != "none" {
            guard type == "linear" else { throw .invalidConfig("rope scaling '\(type)' is not supported") }
            ropeLinearScaling = Float(try keys.optionalDouble("rope.scaling.factor") ?? 1)
            guard ropeLinearScaling > 0 else { throw .invalidConfig("rope.scaling.factor must be positive") }
        }
        rmsNormEps = Float(try keys.optionalDouble("attention.layer_norm_rms_epsilon") ?? 1e-5)
        ropeLayout = .interleaved
        hasQKVBias = false
        hasQKNorm = false
        hasPostNorms = false
        activation = .silu
        embeddingScale = 1
        attentionScale = 1 / Float(headDim).squareRoot()
        finalLogitSoftcap = nil
        layerTypes = Array(repeating: .full, count: numLayers)
        experts = nil
        vocabSize = try keys.optionalInt("vocab_size") ?? 0
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }

    /// The KV cache groups these layers make.
    public var kvCacheLayout: KVCacheLayout { KVCacheLayout(layerTypes: layerTypes) }
}

/// Typed reads of `prefix.key` metadata, each failure a ``ModelError`` naming the key.
struct MetadataKeys {
    let metadata: GGUFMetadata
    let prefix: String

    func int(_ key: String) throws(ModelError) -> Int {
        do { return try metadata.int("\(prefix).\(key)") } catch { throw .missingKey("\(prefix).\(key)") }
    }

    func optionalInt(_ key: String) throws(ModelError) -> Int? {
        do { return try metadata.optionalInt("\(prefix).\(key)") } catch { throw .invalidConfig("\(prefix).\(key) is not an integer") }
    }

    func optionalBool(_ key: String) throws(ModelError) -> Bool? {
        guard let value = metadata["\(prefix).\(key)"] else { return nil }
        guard case .bool(let b) = value else { throw .invalidConfig("\(prefix).\(key) is not a bool") }
        return b
    }

    func optionalDouble(_ key: String) throws(ModelError) -> Double? {
        do { return try metadata.optionalDouble("\(prefix).\(key)") } catch { throw .invalidConfig("\(prefix).\(key) is not a number") }
    }
}
