import GGUF
import Kernels

/// Hyper-parameters of a Llama-family decoder, read from GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    public static let supportedArchitectures = ["llama", "mistral", "qwen2", "qwen3"]

    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var ropeDimensions: Int
    public var ropeBase: Float
    public var ropeLinearScaling: Float
    public var ropeLayout: Rope.Layout
    public var rmsNormEps: Float
    public var contextLength: Int
    /// Q, K and V projections carry biases (qwen2).
    public var hasQKVBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (qwen3).
    public var hasQKNorm: Bool

    public init(metadata m: GGUFMetadata) throws(ModelError) {
        let arch: String
        do { arch = try m.string("general.architecture") } catch { throw .missingKey("general.architecture") }
        guard Self.supportedArchitectures.contains(arch) else { throw .unsupportedArchitecture(arch) }
        func int(_ key: String) throws(ModelError) -> Int {
            do { return try m.int("\(arch).\(key)") } catch { throw .missingKey("\(arch).\(key)") }
        }
        func optInt(_ key: String) throws(ModelError) -> Int? {
            do { return try m.optionalInt("\(arch).\(key)") } catch { throw .invalidConfig("\(arch).\(key) is not an integer") }
        }
        func optDouble(_ key: String) throws(ModelError) -> Double? {
            do { return try m.optionalDouble("\(arch).\(key)") } catch { throw .invalidConfig("\(arch).\(key) is not a number") }
        }
        architecture = arch
        hiddenSize = try int("embedding_length")
        numLayers = try int("block_count")
        intermediateSize = try int("feed_forward_length")
        numHeads = try int("attention.head_count")
        numKVHeads = try optInt("attention.head_count_kv") ?? numHeads
        contextLength = try optInt("context_length") ?? 2048
        guard hiddenSize > 0, numLayers > 0, intermediateSize > 0, numHeads > 0, numKVHeads > 0, contextLength > 0 else {
            throw .invalidConfig("sizes must be positive")
        }
        headDim = try optInt("attention.key_length") ?? hiddenSize / numHeads
        guard headDim > 0, numHeads % numKVHeads == 0 else {
            throw .invalidConfig("head_count \(numHeads) is not a multiple of head_count_kv \(numKVHeads)")
        }
        if let valueLength = try optInt("attention.value_length"), valueLength != headDim {
            throw .invalidConfig("value_length \(valueLength) differs from key_length \(headDim)")
        }
        ropeDimensions = try optInt("rope.dimension_count") ?? headDim
        guard ropeDimensions > 0, ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
            throw .invalidConfig("rope.dimension_count \(ropeDimensions) must be even and at most the head size \(headDim)")
        }
        ropeBase = Float(try optDouble("rope.freq_base") ?? 10_000)
        ropeLinearScaling = 1
        if let type = m["\(arch).rope.scaling.type"]?.stringValue, type != "none" {
            guard type == "linear" else { throw .invalidConfig("rope scaling '\(type)' is not supported") }
            ropeLinearScaling = Float(try optDouble("rope.scaling.factor") ?? 1)
            guard ropeLinearScaling > 0 else { throw .invalidConfig("rope.scaling.factor must be positive") }
        }
        rmsNormEps = Float(try optDouble("attention.layer_norm_rms_epsilon") ?? 1e-5)
        ropeLayout = arch == "qwen2" || arch == "qwen3" ? .neox : .interleaved
        hasQKVBias = arch == "qwen2"
        hasQKNorm = arch == "qwen3"
        vocabSize = try optInt("vocab_size") ?? 0
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }
}
