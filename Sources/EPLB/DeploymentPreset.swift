/// The two serving regimes of DeepSeek-V3's EPLB write-up, as ready-made configurations.
public enum DeploymentPreset: String, CaseIterable, Sendable {
    /// Prefill: a small EP degree, hierarchical policy. 4 nodes × 8 GPUs, 8 expert groups (when E
    /// allows), and 32 redundant slots: R = E rounded up to a multiple of 32, plus 32
    /// (256 experts → 288 slots, 9 per GPU).
    case prefill
    /// Decode: a large EP degree, global policy, one slot per GPU. 64 redundant slots: R = P = E + 64,
    /// 8 GPUs per node (256 experts → 320 GPUs in 40 nodes).
    case decode

    /// The configuration for E logical experts.
    public func configuration(numExperts: Int) -> RebalanceConfiguration {
        switch self {
        case .prefill:
            let gpus = 32
            return RebalanceConfiguration(
                numReplicas: (numExperts + gpus - 1) / gpus * gpus + gpus, numGroups: numExperts % 8 == 0 ? 8 : 1,
                numNodes: 4, numGPUs: gpus, policy: .auto)
        case .decode:
            let gpus = numExperts + 64
            return RebalanceConfiguration(
                numReplicas: gpus, numGroups: numExperts % 8 == 0 ? 8 : 1, numNodes: gpus % 8 == 0 ? gpus / 8 : 1,
                numGPUs: gpus, policy: .global)
        }
    }

    /// One line for help texts.
    public var summary: String {
        switch self {
        case .prefill: "prefill: hierarchical, 4 nodes × 8 GPUs, 8 groups, R = ⌈E/32⌉·32 + 32 (256 experts → 288)"
        case .decode: "decode: global, R = P = E + 64, 8 GPUs per node (256 experts → 320 GPUs, 40 nodes)"
        }
    }
}
