import GGUF

/// The mixture-of-experts part of a decoder's configuration (`{arch}.expert_count` and friends):
/// a router picks `numExpertsUsed` of `numExperts` gated MLPs per token and sums their outputs,
/// weighted by the router's probabilities, as llama.cpp's `build_moe_ffn` does with softmax gating.
public struct ExpertConfig: Sendable, Equatable {
    /// E, routed experts per MoE layer.
    public var numExperts: Int
    /// k, experts each token goes to.
    public var numExpertsUsed: Int
    /// Width of each expert's gated MLP.
    public var expertFeedForward: Int
    /// The top-k probabilities are divided by their sum (qwen3moe, Mixtral); qwen2moe keeps them.
    public var normalizeTopKWeights: Bool
    /// The routed output is multiplied by this (`expert_weights_scale`; 1 when absent).
    public var routedScaling: Float
    /// Width of the shared expert, which every token goes through, behind a sigmoid gate (qwen2moe).
    public var sharedExpertFeedForward: Int?

    /// Reads `{arch}.expert_count`, `expert_used_count` and `expert_feed_forward_length` (falling
    /// back to `fallbackFeedForward`, as Mixtral's files use `feed_forward_length`); nil for a
    /// dense model.
    init?(keys: MetadataKeys, fallbackFeedForward: Int, normalizeTopKWeights: Bool) throws(ModelError) {
        guard let experts = try keys.optionalInt("expert_count"), experts > 0 else { return nil }
        guard experts <= 1 << 16 else { throw .invalidConfig("\(keys.prefix).expert_count \(experts) is more than \(1 << 16)") }
        let used = try keys.int("expert_used_count")
        guard used > 0, used <= experts else {
            throw .invalidConfig("\(keys.prefix).expert_used_count \(used) must be in 1...\(experts)")
        }
        numExperts = experts
        numExpertsUsed = used
        expertFeedForward = try keys.optionalInt("expert_feed_forward_length") ?? fallbackFeedForward
        guard expertFeedForward > 0, expertFeedForward <= 1 << 20 else { throw .invalidConfig("\(keys.prefix).expert_feed_forward_length must be in 1...\(1 << 20)") }
        self.normalizeTopKWeights = try keys.optionalBool("expert_weights_norm") ?? normalizeTopKWeights
        let scale = Float(try keys.optionalDouble("expert_weights_scale") ?? 0)
        routedScaling = scale == 0 ? 1 : scale
        sharedExpertFeedForward = nil
    }
}
