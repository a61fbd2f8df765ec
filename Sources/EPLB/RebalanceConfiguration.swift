/// The cluster shape a placement is computed for: R physical expert slots per layer spread over
/// P GPUs in N nodes, with the E logical experts in G contiguous groups.
///
/// Contract (checked by ``validate(numExperts:)``): R is a multiple of P, R ≥ E, E is a multiple of G;
/// for the hierarchical policy also G and P are multiples of N.
public struct RebalanceConfiguration: Equatable, Sendable, Codable {
    /// R, physical expert slots per layer (logical experts plus redundant replicas).
    public var numReplicas: Int
    /// G, expert groups (E/G consecutive experts each); the hierarchical policy keeps a group on one node.
    public var numGroups: Int
    /// N, server nodes.
    public var numNodes: Int
    /// P, GPUs in all (P/N per node); each holds R/P slots.
    public var numGPUs: Int
    /// Which procedure to run.
    public var policy: BalancingPolicy

    /// A configuration; groups and nodes default to one, the policy to `.auto`.
    public init(numReplicas: Int, numGroups: Int = 1, numNodes: Int = 1, numGPUs: Int, policy: BalancingPolicy = .auto) {
        self.numReplicas = numReplicas
        self.numGroups = numGroups
        self.numNodes = numNodes
        self.numGPUs = numGPUs
        self.policy = policy
    }

    /// A copy with some fields changed.
    public func with(
        numReplicas: Int? = nil, numGroups: Int? = nil, numNodes: Int? = nil, numGPUs: Int? = nil,
        policy: BalancingPolicy? = nil
    ) -> RebalanceConfiguration {
        RebalanceConfiguration(
            numReplicas: numReplicas ?? self.numReplicas, numGroups: numGroups ?? self.numGroups,
            numNodes: numNodes ?? self.numNodes, numGPUs: numGPUs ?? self.numGPUs, policy: policy ?? self.policy)
    }

    /// The policy that runs: `.auto` resolves to `.hierarchical` when G is a multiple of N.
    public var resolvedPolicy: BalancingPolicy {
        switch policy {
        case .auto: numGroups > 0 && numNodes > 0 && numGroups % numNodes == 0 ? .hierarchical : .global
        case .hierarchical, .global: policy
        }
    }

    /// Checks the contract for E logical experts.
    /// - Throws: the first violated rule as an ``EPLBError``.
    public func validate(numExperts: Int) throws(EPLBError) {
        for (name, value) in [("numReplicas", numReplicas), ("numGroups", numGroups), ("numNodes", numNodes), ("numGPUs", numGPUs)]
        where value <= 0 {
            throw .nonPositiveParameter(name: name, value: value)
        }
        guard numExperts > 0 else { throw .emptyLoad }
        guard numReplicas % numGPUs == 0 else { throw .replicasNotMultipleOfGPUs(replicas: numReplicas, gpus: numGPUs) }
        guard numReplicas >= numExperts else { throw .fewerReplicasThanExperts(replicas: numReplicas, experts: numExperts) }
        guard numExperts % numGroups == 0 else { throw .expertsNotMultipleOfGroups(experts: numExperts, groups: numGroups) }
        guard resolvedPolicy == .hierarchical else { return }
        guard numGroups % numNodes == 0 else { throw .groupsNotMultipleOfNodes(groups: numGroups, nodes: numNodes) }
        guard numGPUs % numNodes == 0 else { throw .gpusNotMultipleOfNodes(gpus: numGPUs, nodes: numNodes) }
    }

    /// The shape the algorithm runs with: the global policy is the hierarchical one with G = N = 1.
    func layout(numExperts: Int) -> PlacementLayout {
        let hierarchical = resolvedPolicy == .hierarchical
        return PlacementLayout(
            numExperts: numExperts, numReplicas: numReplicas,
            numGroups: hierarchical ? numGroups : 1, numNodes: hierarchical ? numNodes : 1, numGPUs: numGPUs)
    }
}

/// The derived sizes of one run (all exact divisions, checked by `RebalanceConfiguration.validate`).
struct PlacementLayout {
    let numExperts: Int, numReplicas: Int, numGroups: Int, numNodes: Int, numGPUs: Int

    var groupSize: Int { numExperts / numGroups }
    var groupsPerNode: Int { numGroups / numNodes }
    var expertsPerNode: Int { numExperts / numNodes }
    var replicasPerNode: Int { numReplicas / numNodes }
    var gpusPerNode: Int { numGPUs / numNodes }
    var replicasPerGPU: Int { numReplicas / numGPUs }
}
