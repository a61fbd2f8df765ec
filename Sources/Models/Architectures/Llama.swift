import GGUF

/// The Llama family (llama, mistral, qwen2, qwen3): pre-norm blocks, RMSNorm, RoPE, grouped-query
/// attention over every earlier position, SwiGLU MLP, tied or separate output head. qwen2 adds
/// Q/K/V biases and NeoX rope; qwen3 adds per-head Q/K RMSNorm and NeoX rope. A llama file with
/// `llama.expert_count` is Mixtral: routed experts of `feed_forward_length` in every layer, the
/// top-k of the router's softmax renormalized (the softmax of the top-k logits).
enum Llama {
    static func configure(_ metadata: GGUFMetadata, _ arch: String) throws(ModelError) -> ModelConfig {
        var c = try ModelConfig(metadata: metadata, architecture: arch)
        c.ropeLayout = arch == "qwen2" || arch == "qwen3" ? .neox : .interleaved
        c.hasQKVBias = arch == "qwen2"
        c.hasQKNorm = arch == "qwen3"
        if arch == "llama" || arch == "mistral" {
            c.experts = try ExpertConfig(keys: MetadataKeys(metadata: metadata, prefix: arch), fallbackFeedForward: c.intermediateSize,
                                         normalizeTopKWeights: true)
        }
        return c
    }
}
