import EPLB
import Testing

@Suite struct PropertyTests {
    static let cases = (0..<3000).map { RandomCase(seed: UInt64($0)) }

    @Test func matchesTheNaiveTranscriptionOfTheReadme() throws {
        for c in Self.cases {
            let placement = try ExpertLoadBalancer(c.configuration).rebalance(c.weight)
            let k = c.configuration
            let naive = NaiveRebalancer.rebalance(
                c.rows, r: k.numReplicas, g: k.numGroups, n: k.numNodes, p: k.numGPUs, forceGlobal: k.policy == .global)
            #expect(placement.phy2log == naive.phy2log, "\(c)")
            #expect(placement.logcnt == naive.logcnt, "\(c)")
            let log2phy = placement.log2phy
            for (layer, ranks) in naive.phyrank.enumerated() {
                for (slot, rank) in ranks.enumerated() {
                    let expert = naive.phy2log[layer][slot]
                    #expect(log2phy[layer][expert][rank] == slot, "\(c)")
                }
            }
            if placement.phy2log != naive.phy2log { return }
        }
    }

    @Test func matchesTheNaiveTranscriptionOnLargeShapesWithTies() throws {
        var rng = SplitMix64(seed: 99)
        for trial in 0..<24 {
            let experts = [64, 128, 256][trial % 3]
            let preset = DeploymentPreset.allCases[trial % 2]
            let rows = (0..<2).map { _ in
                (0..<experts).map { _ in trial % 4 < 2 ? Double(rng.nextInt(below: 4)) : Double(rng.nextInt(below: 100_000)) }
            }
            let k = preset.configuration(numExperts: experts).with(policy: trial % 5 == 0 ? .global : nil)
            let placement = try ExpertLoadBalancer(k).rebalance(ExpertLoadMatrix(rows: rows))
            let naive = NaiveRebalancer.rebalance(
                rows, r: k.numReplicas, g: k.numGroups, n: k.numNodes, p: k.numGPUs, forceGlobal: k.resolvedPolicy == .global)
            #expect(placement.phy2log == naive.phy2log, "trial \(trial)")
            #expect(placement.logcnt == naive.logcnt, "trial \(trial)")
            #expect(Self.invariantViolations(placement, k).isEmpty, "trial \(trial)")
        }
    }

    @Test func invariantsHold() throws {
        for c in Self.cases {
            let placement = try ExpertLoadBalancer(c.configuration).rebalance(c.weight)
            let failures = Self.invariantViolations(placement, c.configuration)
            #expect(failures.isEmpty, "\(c): \(failures)")
            if !failures.isEmpty { return }
        }
    }

    @Test func hierarchicalPolicyKeepsEachGroupOnOneNode() throws {
        var checked = 0
        for c in Self.cases where c.configuration.resolvedPolicy == .hierarchical {
            let placement = try ExpertLoadBalancer(c.configuration).rebalance(c.weight)
            let k = c.configuration
            let groupSize = placement.numExperts / k.numGroups, slotsPerNode = k.numReplicas / k.numNodes
            for layer in 0..<placement.numLayers {
                var nodeOfGroup = [Int: Int]()
                for (slot, expert) in placement.physicalToLogical(layer: layer).enumerated() {
                    let node = slot / slotsPerNode
                    let previous = nodeOfGroup.updateValue(node, forKey: expert / groupSize)
                    #expect(previous == nil || previous == node, "\(c): group \(expert / groupSize) spans nodes")
                }
            }
            checked += 1
        }
        #expect(checked > 1000)
    }

    @Test func balancednessImprovesOnSkewedLoads() throws {
        var rng = SplitMix64(seed: 42)
        for trial in 0..<300 {
            let nodes = [1, 2, 4][rng.nextInt(below: 3)], gpus = nodes * [2, 4, 8][rng.nextInt(below: 3)]
            let experts = gpus * [1, 2, 4][rng.nextInt(below: 3)]
            let replicas = experts + gpus * (1 + rng.nextInt(below: 2))
            let skew = LoadSkew.zipf(exponent: 0.8 + rng.nextUnit())
            let weight = try SyntheticLoad(numLayers: 4, numExperts: experts, skew: skew, seed: UInt64(trial)).matrix()
            let configuration = RebalanceConfiguration(
                numReplicas: replicas, numGroups: nodes, numNodes: nodes, numGPUs: gpus,
                policy: rng.nextInt(below: 2) == 0 ? .auto : .global)
            let placement = try ExpertLoadBalancer(configuration).rebalance(weight)
            let b = Balancedness(weight: weight, placement: placement)
            for (before, after) in zip(b.perLayerBefore, b.perLayerAfter) {
                #expect(after >= before, "trial \(trial): \(configuration), \(skew)")
            }
        }
    }

    @Test func resultIsDeterministicAndIndependentOfThreadCount() throws {
        let weight = try SyntheticLoad(numLayers: 58, numExperts: 256, skew: .zipf(exponent: 1.1), seed: 7).matrix()
        for configuration in [
            RebalanceConfiguration(numReplicas: 288, numGroups: 8, numNodes: 4, numGPUs: 32),
            RebalanceConfiguration(numReplicas: 320, numGroups: 8, numNodes: 40, numGPUs: 320),
        ] {
            let balancer = ExpertLoadBalancer(configuration)
            let reference = try balancer.rebalance(weight)
            #expect(try balancer.rebalance(weight) == reference)
            for threads in [2, 3, 8, 64] {
                #expect(try balancer.rebalance(weight, threads: threads) == reference, "threads \(threads)")
            }
        }
    }

    /// Everything that must hold for any valid placement, as messages.
    static func invariantViolations(_ placement: ExpertPlacement, _ k: RebalanceConfiguration) -> [String] {
        var failures: [String] = []
        let r = k.numReplicas, log2phy = placement.log2phy
        if placement.physicalToLogicalMap.count != placement.numLayers * r { failures.append("phy2log size") }
        for layer in 0..<placement.numLayers {
            let counts = placement.replicaCounts(layer: layer)
            if counts.contains(where: { $0 < 1 }) { failures.append("layer \(layer): expert without replica") }
            if counts.reduce(0, +) != r { failures.append("layer \(layer): counts sum to \(counts.reduce(0, +))") }
            var seen = [Bool](repeating: false, count: r)
            for expert in 0..<placement.numExperts {
                let slots = placement.slots(layer: layer, expert: expert)
                let row = log2phy[layer][expert]
                if row.count != placement.maxReplicas || row[slots.count...].contains(where: { $0 != -1 }) {
                    failures.append("layer \(layer) expert \(expert): bad padding")
                }
                for slot in slots {
                    guard slot >= 0, slot < r, !seen[slot] else {
                        failures.append("layer \(layer): slot \(slot) bad or listed twice")
                        continue
                    }
                    seen[slot] = true
                    if placement.physicalToLogicalMap[layer * r + slot] != expert {
                        failures.append("layer \(layer): log2phy and phy2log disagree at slot \(slot)")
                    }
                }
            }
            if seen.contains(false) { failures.append("layer \(layer): a slot is not listed in log2phy") }
            var perGPU = [Int](repeating: 0, count: k.numGPUs)
            for slot in 0..<r { perGPU[placement.gpu(ofSlot: slot)] += 1 }
            if perGPU.contains(where: { $0 != r / k.numGPUs }) { failures.append("layer \(layer): uneven slots per GPU") }
        }
        if placement.maxReplicas != placement.logicalReplicaCount.max() { failures.append("W is not the global max") }
        return failures
    }
}
