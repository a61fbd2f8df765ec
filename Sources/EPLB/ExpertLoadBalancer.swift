import Dispatch

/// DeepSeek's expert-parallelism load balancer (EPLB): replicates the hottest logical experts into
/// the R physical slots and places the slots on GPUs so every GPU carries about the same load.
///
/// A faithful port of `rebalance_experts` (deepseek-ai/EPLB): the hierarchical policy when G is a
/// multiple of N, otherwise the global policy, with the reference's float32 arithmetic and tie rules
/// (descending sorts are stable). Layers are independent, so they can be split over threads; the
/// result does not depend on the thread count.
///
/// ```swift
/// let balancer = ExpertLoadBalancer(RebalanceConfiguration(numReplicas: 16, numGroups: 4, numNodes: 2, numGPUs: 8))
/// let placement = try balancer.rebalance(ExpertLoadMatrix(rows: loads))
/// ```
public struct ExpertLoadBalancer: Sendable {
    /// The cluster shape and policy.
    public var configuration: RebalanceConfiguration

    /// A balancer for one cluster shape.
    public init(_ configuration: RebalanceConfiguration) {
        self.configuration = configuration
    }

    /// Computes the placement of every layer.
    /// - Parameters:
    ///   - weight: the L × E load matrix.
    ///   - threads: how many threads share the layers (1 runs on the caller's thread).
    /// - Throws: an ``EPLBError`` when the configuration breaks the contract for this E.
    public func rebalance(_ weight: ExpertLoadMatrix, threads: Int = 1) throws(EPLBError) -> ExpertPlacement {
        try configuration.validate(numExperts: weight.numExperts)
        guard threads > 0 else { throw .nonPositiveParameter(name: "threads", value: threads) }
        let layout = configuration.layout(numExperts: weight.numExperts)
        let numLayers = weight.numLayers, e = weight.numExperts, r = configuration.numReplicas
        // `+ 0` turns −0 into +0: the heaps compare float bit patterns, valid for non-negative values.
        let float32 = weight.values.map { Float($0) + 0 }
        // Every entry is written by exactly one layer, so the outputs start uninitialised.
        var phy2log = [Int](unsafeUninitializedCapacity: numLayers * r) { $1 = numLayers * r }
        var phyRank = [Int32](unsafeUninitializedCapacity: numLayers * r) { $1 = numLayers * r }
        var logcnt = [Int](unsafeUninitializedCapacity: numLayers * e) { $1 = numLayers * e }
        float32.withUnsafeBufferPointer { w in
            phy2log.withUnsafeMutableBufferPointer { p2l in
                phyRank.withUnsafeMutableBufferPointer { rank in
                    logcnt.withUnsafeMutableBufferPointer { cnt in
                        let out = LayerOutputs(weight: w, phy2log: p2l, phyRank: rank, logcnt: cnt, e: e, r: r)
                        let chunks = min(threads, numLayers)
                        if chunks == 1 {
                            out.run(layers: 0..<numLayers, layout: layout)
                        } else {
                            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                                out.run(layers: (c * numLayers / chunks)..<((c + 1) * numLayers / chunks), layout: layout)
                            }
                        }
                    }
                }
            }
        }
        return ExpertPlacement(
            configuration: configuration, numLayers: numLayers, numExperts: e,
            physicalToLogical: phy2log, physicalRank: phyRank, replicaCounts: logcnt)
    }
}

/// The flat input and output buffers of one `rebalance` call; layers write disjoint rows, which is
/// what makes sharing them between threads safe.
private struct LayerOutputs: @unchecked Sendable {
    let weight: UnsafeBufferPointer<Float>
    let phy2log: UnsafeMutableBufferPointer<Int>
    let phyRank: UnsafeMutableBufferPointer<Int32>
    let logcnt: UnsafeMutableBufferPointer<Int>
    let e: Int, r: Int

    func run(layers: Range<Int>, layout: PlacementLayout) {
        let rebalancer = LayerRebalancer(layout: layout)
        for layer in layers {
            rebalancer.rebalance(
                weight: weight.baseAddress! + layer * e, phy2log: phy2log.baseAddress! + layer * r,
                phyRank: phyRank.baseAddress! + layer * r, logcnt: logcnt.baseAddress! + layer * e)
        }
    }
}

/// The reference's entry point, `rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)`.
///
/// - Parameters:
///   - weight: L × E non-negative loads, one row per layer.
///   - numReplicas: R, physical slots per layer (a multiple of `numGPUs`, at least E).
///   - numGroups: G, expert groups (E must be a multiple of G).
///   - numNodes: N, server nodes.
///   - numGPUs: P, GPUs.
///   - policy: `.auto` (the reference's rule), or force `.hierarchical` / `.global`.
/// - Returns: the placement; its `phy2log`, `log2phy` and `logcnt` match the reference's outputs.
/// - Throws: an ``EPLBError`` for an invalid matrix or configuration.
public func rebalanceExperts(
    weight: [[Double]], numReplicas: Int, numGroups: Int, numNodes: Int, numGPUs: Int,
    policy: BalancingPolicy = .auto
) throws(EPLBError) -> ExpertPlacement {
    let configuration = RebalanceConfiguration(
        numReplicas: numReplicas, numGroups: numGroups, numNodes: numNodes, numGPUs: numGPUs, policy: policy)
    return try ExpertLoadBalancer(configuration).rebalance(ExpertLoadMatrix(rows: weight))
}
