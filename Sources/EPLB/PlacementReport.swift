import Foundation

/// What the balancer did, for people: a short text summary, a self-contained HTML page (any layer,
/// chosen with a selector and drawn by the page's script from data embedded once) and an SVG of one
/// layer. Every view shows the GPU loads before and after, the slot → expert placement with
/// replicated experts marked, and balancedness per layer.
public struct PlacementReport: Sendable {
    /// The loads the placement was computed from.
    public let weight: ExpertLoadMatrix
    /// The placement.
    public let placement: ExpertPlacement
    /// Balancedness before and after, per layer.
    public let balancedness: Balancedness
    /// Replica counts.
    public let replicas: ReplicaSummary

    /// A report on `placement`, computed from `weight`.
    public init(weight: ExpertLoadMatrix, placement: ExpertPlacement) {
        self.weight = weight
        self.placement = placement
        balancedness = Balancedness(weight: weight, placement: placement)
        replicas = ReplicaSummary(weight: weight, placement: placement)
    }

    /// The layer with the lowest balancedness before rebalancing (the first among equals).
    public var leastBalancedLayer: Int {
        balancedness.perLayerBefore.indices.min { balancedness.perLayerBefore[$0] < balancedness.perLayerBefore[$1] } ?? 0
    }

    /// A few lines: the shape and policy, balancedness before → after, the replica histogram and the
    /// most replicated experts.
    public func summary() -> String {
        let c = placement.configuration, b = balancedness
        let worst = leastBalancedLayer
        var lines = [
            "EPLB: \(placement.numLayers) layers × \(placement.numExperts) experts → \(c.numReplicas) slots on \(c.numGPUs) GPUs "
                + "(\(c.numReplicas / c.numGPUs) per GPU, \(c.numNodes) nodes, \(c.numGroups) groups), policy \(placement.policy.rawValue)",
            "balancedness (avg ÷ max GPU load): \(Self.f(b.meanBefore)) → \(Self.f(b.meanAfter)) mean over layers; "
                + "least balanced layer \(worst): \(Self.f(b.perLayerBefore[worst])) → \(Self.f(b.perLayerAfter[worst]))",
            "replicas per expert: " + replicas.expertCount.enumerated().dropFirst().filter { $0.element > 0 }
                .map { "\($0.element) expert\($0.element == 1 ? "" : "s") ×\($0.offset)" }.joined(separator: ", "),
        ]
        if !replicas.mostReplicated.isEmpty {
            lines.append(
                "most replicated: " + replicas.mostReplicated.map {
                    "layer \($0.layer) expert \($0.expert) ×\($0.replicas) (load \(SVGCanvas.short($0.load)))"
                }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func f(_ value: Double) -> String { SVGCanvas.fixed(value) }
}
