/// How many replicas the experts got: a histogram over all layers and the most replicated experts.
public struct ReplicaSummary: Equatable, Sendable {
    /// One logical expert of one layer.
    public struct Entry: Equatable, Sendable {
        /// The layer and the logical expert.
        public let layer: Int, expert: Int
        /// Its replica count.
        public let replicas: Int
        /// Its load.
        public let load: Double
    }

    /// `expertCount[c]` is the number of (layer, expert) pairs with exactly c replicas (index 0 is unused).
    public let expertCount: [Int]
    /// The experts with the most replicas, heaviest first among equals, at most `top` of them.
    public let mostReplicated: [Entry]

    /// Summarises a placement; `top` bounds ``mostReplicated``.
    public init(weight: ExpertLoadMatrix, placement: ExpertPlacement, top: Int = 5) {
        var histogram = [Int](repeating: 0, count: placement.maxReplicas + 1)
        var entries: [Entry] = []
        for layer in 0..<placement.numLayers {
            for (expert, replicas) in placement.replicaCounts(layer: layer).enumerated() {
                histogram[replicas] += 1
                if replicas > 1 {
                    entries.append(Entry(layer: layer, expert: expert, replicas: replicas, load: weight[layer, expert]))
                }
            }
        }
        entries.sort { ($0.replicas, $0.load, -$0.layer, -$0.expert) > ($1.replicas, $1.load, -$1.layer, -$1.expert) }
        expertCount = histogram
        mostReplicated = Array(entries.prefix(max(top, 0)))
    }
}
