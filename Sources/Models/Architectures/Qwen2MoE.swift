import GGUF

/// Qwen2-MoE (`qwen2moe`, e.g. Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): qwen2's attention (Q/K/V
/// biases, NeoX rope) and routed experts whose top-k softmax probabilities are used as they are
/// (not renormalized), plus a shared expert every token goes through, scaled by
/// sigmoid(`ffn_gate_inp_shexp` · x).
enum Qwen2MoE {
    static func configure(_ metadata: GGUFMetadata, _ arch: String) throws(ModelError) -> ModelConfig {
        var c = try ModelConfig(metadata: metadata, architecture: arch)
        let keys = MetadataKeys(metadata: metadata, prefix: arch)
        c.ropeLayout = .neox
        c.hasQKVBias = true
        guard var experts = try ExpertConfig(keys: keys, fallbackFeedForward: c.intermediateSize, normalizeTopKWeights: false) else {
            throw .missingKey("\(arch).expert_count")
        }
        experts.sharedExpertFeedForward = try keys.optionalInt("expert_shared_feed_forward_length") ?? c.intermediateSize
        c.experts = experts
        return c
    }
}
