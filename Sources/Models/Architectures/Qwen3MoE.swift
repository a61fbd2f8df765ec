import GGUF

/// Qwen3-MoE (`qwen3moe`, e.g. Qwen3-30B-A3B): qwen3's attention (per-head Q/K RMSNorm, NeoX rope,
/// no biases) and in every layer routed experts in place of the MLP: softmax over the router's
/// logits, the top k kept and renormalized to sum to one.
enum Qwen3MoE {
    static func configure(_ metadata: GGUFMetadata, _ arch: String) throws(ModelError) -> ModelConfig {
        var c = try ModelConfig(metadata: metadata, architecture: arch)
        c.ropeLayout = .neox
        c.hasQKNorm = true
        c.experts = try ExpertConfig(keys: MetadataKeys(metadata: metadata, prefix: arch), fallbackFeedForward: c.intermediateSize,
                                     normalizeTopKWeights: true)
        guard c.experts != nil else { throw .missingKey("\(arch).expert_count") }
        return c
    }
}
