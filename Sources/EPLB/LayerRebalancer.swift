/// Runs the three EPLB steps on one layer at a time, reusing its scratch buffers, so rebalancing many
/// layers allocates nothing per layer. One instance per thread.
struct LayerRebalancer: ~Copyable {
    private let layout: PlacementLayout
    private let packing: BalancedPacking
    private let replication: ExpertReplication
    private let scratch: UnsafeMutableBufferPointer<Int32>
    private let floats: UnsafeMutableBufferPointer<Float>
    // Int32 scratch, carved out of `scratch`:
    private let groupBin: UnsafeMutablePointer<Int32>, groupRank: UnsafeMutablePointer<Int32>
    private let middleToLogical: UnsafeMutablePointer<Int32>
    private let replicaExpert: UnsafeMutablePointer<Int32>, replicaRank: UnsafeMutablePointer<Int32>
    private let counts: UnsafeMutablePointer<Int32>
    private let gpuBin: UnsafeMutablePointer<Int32>, gpuRank: UnsafeMutablePointer<Int32>
    // Float scratch, carved out of `floats`:
    private let groupLoad: UnsafeMutablePointer<Float>, nodeLoad: UnsafeMutablePointer<Float>
    private let replicaLoad: UnsafeMutablePointer<Float>

    init(layout: PlacementLayout) {
        self.layout = layout
        let g = layout.numGroups, e = layout.numExperts, en = layout.expertsPerNode, rn = layout.replicasPerNode
        packing = BalancedPacking(maxItems: max(g, rn), maxBins: max(layout.numNodes, layout.gpusPerNode))
        replication = ExpertReplication(maxExperts: en)
        scratch = .allocate(capacity: 2 * g + e + 4 * rn + en)
        floats = .allocate(capacity: g + en + rn)
        let s = scratch.baseAddress!, f = floats.baseAddress!
        groupBin = s
        groupRank = s + g
        middleToLogical = s + 2 * g
        replicaExpert = s + 2 * g + e
        replicaRank = replicaExpert + rn
        gpuBin = replicaRank + rn
        gpuRank = gpuBin + rn
        counts = gpuRank + rn
        groupLoad = f
        nodeLoad = f + g
        replicaLoad = f + g + en
    }

    deinit {
        scratch.deallocate()
        floats.deallocate()
    }

    /// Places one layer. `weight` holds its E float32 loads; writes R entries of `phy2log` and
    /// `phyRank` (the replica rank held by each slot) and E entries of `logcnt`.
    func rebalance(
        weight: UnsafePointer<Float>, phy2log: UnsafeMutablePointer<Int>, phyRank: UnsafeMutablePointer<Int32>,
        logcnt: UnsafeMutablePointer<Int>
    ) {
        packGroupsToNodes(weight)
        for node in 0..<layout.numNodes {
            placeNode(node, weight: weight, phy2log: phy2log, phyRank: phyRank, logcnt: logcnt)
        }
    }

    /// Step 1: groups to nodes; defines the middle order (node-major, groups by in-node rank,
    /// experts of a group in their original order).
    private func packGroupsToNodes(_ weight: UnsafePointer<Float>) {
        let groupSize = layout.groupSize
        if layout.groupsPerNode == 1 {
            // One group per node: group g goes to node g, no sums needed (the packing is the identity).
            for e in 0..<layout.numExperts { middleToLogical[e] = Int32(e) }
            return
        }
        for g in 0..<layout.numGroups {
            var sum: Float = 0
            for j in 0..<groupSize { sum += weight[g * groupSize + j] }
            groupLoad[g] = sum
        }
        packing.pack(groupLoad, count: layout.numGroups, bins: layout.numNodes, bin: groupBin, rank: groupRank)
        for g in 0..<layout.numGroups {
            let start = (Int(groupBin[g]) * layout.groupsPerNode + Int(groupRank[g])) * groupSize
            for j in 0..<groupSize { middleToLogical[start + j] = Int32(g * groupSize + j) }
        }
    }

    /// Steps 2 and 3 for one node, then assembly into the layer's global slots.
    private func placeNode(
        _ node: Int, weight: UnsafePointer<Float>, phy2log: UnsafeMutablePointer<Int>,
        phyRank: UnsafeMutablePointer<Int32>, logcnt: UnsafeMutablePointer<Int>
    ) {
        let en = layout.expertsPerNode, rn = layout.replicasPerNode, perGPU = layout.replicasPerGPU
        let nodeExperts = middleToLogical + node * en
        for j in 0..<en { nodeLoad[j] = weight[Int(nodeExperts[j])] }
        replication.replicate(
            nodeLoad, numExperts: en, numReplicas: rn, expert: replicaExpert, rank: replicaRank, counts: counts)
        if perGPU == 1 {
            // One slot per GPU: replica j of the node's list takes the node's slot j (no loads needed).
            for i in 0..<rn {
                gpuBin[i] = Int32(i)
                gpuRank[i] = 0
            }
        } else {
            for i in 0..<rn {
                let j = Int(replicaExpert[i])
                replicaLoad[i] = nodeLoad[j] / Float(counts[j])
            }
            packing.pack(replicaLoad, count: rn, bins: layout.gpusPerNode, bin: gpuBin, rank: gpuRank)
        }
        let base = node * rn
        for i in 0..<rn {
            let slot = base + Int(gpuBin[i]) * perGPU + Int(gpuRank[i])
            phy2log[slot] = Int(nodeExperts[Int(replicaExpert[i])])
            phyRank[slot] = replicaRank[i]
        }
        for j in 0..<en { logcnt[Int(nodeExperts[j])] = Int(counts[j]) }
    }
}
