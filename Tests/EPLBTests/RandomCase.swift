import EPLB

/// A random but valid balancer input: shape, configuration and loads of one of several flavours
/// (small integers with many ties, zeros, skewed integers, fractional values, huge values).
struct RandomCase: CustomStringConvertible {
    let rows: [[Double]]
    let configuration: RebalanceConfiguration
    let flavour: Int
    let seed: UInt64

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let nodes = 1 + rng.nextInt(below: 4)
        let groups = rng.nextInt(below: 5) == 0 ? 1 + rng.nextInt(below: 7) : nodes * (1 + rng.nextInt(below: 3))
        let groupSize = 1 + rng.nextInt(below: 5)
        let experts = groups * groupSize
        let gpus = nodes * (1 + rng.nextInt(below: 4))
        let perGPU = (experts + gpus - 1) / gpus + rng.nextInt(below: 3)
        let layers = 1 + rng.nextInt(below: 3)
        flavour = rng.nextInt(below: 5)
        let flavour = self.flavour
        rows = (0..<layers).map { _ in
            (0..<experts).map { _ in
                switch flavour {
                case 0: Double(rng.nextInt(below: 4))
                case 1: rng.nextInt(below: 3) == 0 ? 0 : Double(rng.nextInt(below: 1000))
                case 2: (1000 / Double(1 + rng.nextInt(below: experts))).rounded()
                case 3: rng.nextUnit() * 100
                default: Double(rng.nextInt(below: 1 << 30)) * 1e3
                }
            }
        }
        let policy: BalancingPolicy = [.auto, .auto, .auto, .global][rng.nextInt(below: 4)]
        configuration = RebalanceConfiguration(
            numReplicas: perGPU * gpus, numGroups: groups, numNodes: nodes, numGPUs: gpus, policy: policy)
        self.seed = seed
    }

    var weight: ExpertLoadMatrix { try! ExpertLoadMatrix(rows: rows) }

    var description: String {
        let c = configuration
        return "seed \(seed): L=\(rows.count) E=\(rows[0].count) R=\(c.numReplicas) G=\(c.numGroups) N=\(c.numNodes) P=\(c.numGPUs) \(c.policy) flavour \(flavour)"
    }
}
