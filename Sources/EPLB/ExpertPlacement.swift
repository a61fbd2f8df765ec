/// Where every physical expert slot lives and which logical expert it serves: the balancer's output.
///
/// Slots are numbered GPU-major: GPU g holds slots g·R/P … (g+1)·R/P − 1, and node k holds GPUs
/// k·P/N … (k+1)·P/N − 1. The flat arrays are row-major; the nested views (`phy2log`, `log2phy`,
/// `logcnt`) have the shapes of the reference implementation.
public struct ExpertPlacement: Equatable, Sendable {
    /// The configuration the placement was computed for.
    public let configuration: RebalanceConfiguration
    /// The policy that actually ran (`.hierarchical` or `.global`, never `.auto`).
    public let policy: BalancingPolicy
    /// L, the number of layers.
    public let numLayers: Int
    /// E, the number of logical experts per layer.
    public let numExperts: Int
    /// W, the largest replica count over all layers: the width of ``logicalToPhysicalMap``'s rows.
    public let maxReplicas: Int
    /// L × R: the logical expert each physical slot serves.
    public let physicalToLogicalMap: [Int]
    /// L × E × W: the slots of each logical expert by replica rank, padded with −1.
    public let logicalToPhysicalMap: [Int]
    /// L × E: the number of replicas of each logical expert (≥ 1; each layer sums to R).
    public let logicalReplicaCount: [Int]

    init(
        configuration: RebalanceConfiguration, numLayers: Int, numExperts: Int,
        physicalToLogical: [Int], physicalRank: [Int32], replicaCounts: [Int]
    ) {
        self.configuration = configuration
        policy = configuration.resolvedPolicy
        self.numLayers = numLayers
        self.numExperts = numExperts
        physicalToLogicalMap = physicalToLogical
        logicalReplicaCount = replicaCounts
        let width = replicaCounts.max() ?? 0
        maxReplicas = width
        let r = configuration.numReplicas
        var map = [Int](repeating: -1, count: numLayers * numExperts * width)
        for layer in 0..<numLayers {
            for slot in 0..<r {
                let expert = physicalToLogical[layer * r + slot]
                map[(layer * numExperts + expert) * width + Int(physicalRank[layer * r + slot])] = slot
            }
        }
        logicalToPhysicalMap = map
    }

    /// R, the number of physical slots per layer.
    public var numReplicas: Int { configuration.numReplicas }

    /// P, the number of GPUs.
    public var numGPUs: Int { configuration.numGPUs }

    /// The GPU that holds a slot.
    public func gpu(ofSlot slot: Int) -> Int { slot / (numReplicas / numGPUs) }

    /// The logical expert of each slot of one layer.
    public func physicalToLogical(layer: Int) -> ArraySlice<Int> {
        physicalToLogicalMap[layer * numReplicas..<(layer + 1) * numReplicas]
    }

    /// The replica count of each logical expert of one layer.
    public func replicaCounts(layer: Int) -> ArraySlice<Int> {
        logicalReplicaCount[layer * numExperts..<(layer + 1) * numExperts]
    }

    /// The slots holding one expert of one layer, by replica rank (no padding).
    public func slots(layer: Int, expert: Int) -> ArraySlice<Int> {
        let start = (layer * numExperts + expert) * maxReplicas
        return logicalToPhysicalMap[start..<start + logicalReplicaCount[layer * numExperts + expert]]
    }

    /// `phy2log` as in the reference: L × R.
    public var phy2log: [[Int]] { (0..<numLayers).map { Array(physicalToLogical(layer: $0)) } }

    /// `logcnt` as in the reference: L × E.
    public var logcnt: [[Int]] { (0..<numLayers).map { Array(replicaCounts(layer: $0)) } }

    /// `log2phy` as in the reference: L × E × W, padded with −1.
    public var log2phy: [[[Int]]] {
        (0..<numLayers).map { layer in
            (0..<numExperts).map { expert in
                let start = (layer * numExperts + expert) * maxReplicas
                return Array(logicalToPhysicalMap[start..<start + maxReplicas])
            }
        }
    }
}
