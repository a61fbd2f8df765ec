import GGUF

/// Gemma 3 (`gemma3`), as llama.cpp computes it: embeddings scaled by √d; RMSNorm with the stored
/// weights before and after attention and the MLP; per-head Q/K RMSNorm; NeoX rope; queries scaled
/// by 1/√head_dim; GeGLU (tanh GELU); tied output; sliding-window attention on five layers of
/// every six (every sixth global), the local layers with rope base 10,000 and the global ones
/// with the file's `rope.freq_base`.
enum Gemma3 {
    /// Layers per period of the pattern: the last of each period is global.
    static let defaultPatternPeriod = 6
    static let defaultSlidingRopeBase: Float = 10_000

    static func configure(_ metadata: GGUFMetadata, _ arch: String) throws(ModelError) -> ModelConfig {
        var c = try ModelConfig(metadata: metadata, architecture: arch)
        let keys = MetadataKeys(metadata: metadata, prefix: arch)
        c.ropeLayout = .neox
        c.hasQKNorm = true
        c.hasPostNorms = true
        c.activation = .geluTanh
        c.embeddingScale = Float(c.hiddenSize).squareRoot()
        c.rmsNormEps = Float(try keys.optionalDouble("attention.layer_norm_rms_epsilon") ?? 1e-6)
        c.ropeBase = Float(try keys.optionalDouble("rope.freq_base") ?? 1_000_000)
        c.ropeBaseSliding = Float(try keys.optionalDouble("rope.freq_base_swa") ?? Double(defaultSlidingRopeBase))
        if let cap = try keys.optionalDouble("final_logit_softcapping"), cap > 0 { c.finalLogitSoftcap = Float(cap) }
        if let window = try keys.optionalInt("attention.sliding_window") {
            guard window > 0 else { throw .invalidConfig("\(arch).attention.sliding_window must be positive") }
            c.layerTypes = try slidingLayers(metadata["\(arch).attention.sliding_window_pattern"], layers: c.numLayers, arch: arch)
                .map { $0 ? .slidingWindow(window) : .full }
        }
        return c
    }

    /// Which layers slide: from the pattern key (a period, or one bool per layer), else every
    /// layer but the last of each period of six (llama.cpp's pattern for gemma3).
    private static func slidingLayers(_ pattern: GGUFValue?, layers: Int, arch: String) throws(ModelError) -> [Bool] {
        switch pattern {
        case nil:
            return (0..<layers).map { ($0 + 1) % defaultPatternPeriod != 0 }
        case .array(_, let values)?:
            let flags = values.compactMap { v -> Bool? in if case .bool(let b) = v { return b } else { return nil } }
            guard flags.count == layers else {
                throw .invalidConfig("\(arch).attention.sliding_window_pattern needs one bool per layer (\(layers))")
            }
            return flags
        case let value?:
            guard let period = value.intValue, period > 0 else {
                throw .invalidConfig("\(arch).attention.sliding_window_pattern must be a positive period or one bool per layer")
            }
            return (0..<layers).map { ($0 + 1) % period != 0 }
        }
    }
}
