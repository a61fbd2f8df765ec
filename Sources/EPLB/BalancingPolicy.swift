/// Which of the two EPLB procedures places the replicas.
public enum BalancingPolicy: String, CaseIterable, Codable, Sendable {
    /// Hierarchical when the number of groups is a multiple of the number of nodes, global otherwise
    /// (the upstream `rebalance_experts` rule).
    case auto
    /// Pack expert groups onto nodes, replicate inside each node, pack replicas onto the node's GPUs.
    /// Keeps each group on one node (less inter-node traffic); suits prefill with a small EP degree.
    case hierarchical
    /// Ignore groups and nodes: replicate over all experts and pack replicas onto all GPUs.
    /// Suits decode with a large EP degree.
    case global
}
