import Foundation

/// The mapping file the CLI writes: the reference's three outputs plus the policy, the cluster shape
/// and the balancedness before and after (means and per layer). Keys are snake_case.
///
/// ``placement()`` and ``ExpertPlacement/init(mappingJSON:)`` rebuild the placement from it.
public struct PlacementDocument: Codable, Equatable, Sendable {
    /// L × R: the logical expert each physical slot serves.
    public var phy2log: [[Int]]
    /// L × E × W: the slots of each logical expert by replica rank, padded with −1.
    public var log2phy: [[[Int]]]
    /// L × E: replica counts.
    public var logcnt: [[Int]]
    /// The policy that ran.
    public var policy: BalancingPolicy
    /// R, G, N and P.
    public var numReplicas: Int, numGroups: Int, numNodes: Int, numGPUs: Int
    /// Mean balancedness over layers without replication and under the placement.
    public var balancednessBefore: Double, balancednessAfter: Double
    /// Per-layer balancedness without replication and under the placement.
    public var balancednessPerLayerBefore: [Double], balancednessPerLayerAfter: [Double]

    enum CodingKeys: String, CodingKey {
        case phy2log, log2phy, logcnt, policy
        case numReplicas = "num_replicas", numGroups = "num_groups", numNodes = "num_nodes", numGPUs = "num_gpus"
        case balancednessBefore = "balancedness_before", balancednessAfter = "balancedness_after"
        case balancednessPerLayerBefore = "balancedness_per_layer_before"
        case balancednessPerLayerAfter = "balancedness_per_layer_after"
    }

    /// The document for a placement and its metric.
    public init(placement: ExpertPlacement, balancedness: Balancedness) {
        phy2log = placement.phy2log
        log2phy = placement.log2phy
        logcnt = placement.logcnt
        policy = placement.policy
        numReplicas = placement.configuration.numReplicas
        numGroups = placement.configuration.numGroups
        numNodes = placement.configuration.numNodes
        numGPUs = placement.configuration.numGPUs
        balancednessBefore = balancedness.meanBefore
        balancednessAfter = balancedness.meanAfter
        balancednessPerLayerBefore = balancedness.perLayerBefore
        balancednessPerLayerAfter = balancedness.perLayerAfter
    }

    /// Compact JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}
