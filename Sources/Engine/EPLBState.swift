import EPLB
import Foundation
import Models

/// The expert load of an MoE model as the engine reports it (read between steps).
public struct ExpertLoadStats: Sendable, Equatable {
    /// Tokens routed to each logical expert of each MoE layer over the last `windowSize` steps:
    /// the matrix `peregrine eplb --load` reads.
    public var load: ExpertLoadMatrix
    /// Per MoE layer: average ÷ maximum tokens per rank, over the steps since the last rebalance
    /// (1 is perfect; vLLM's EPLB balancedness).
    public var balancedness: [Double]
    public var numRanks: Int
    public var numPhysicalExperts: Int
    /// Whether the engine rebalances (`--enable-eplb`), and how often it has.
    public var rebalancing: Bool
    public var rebalances: Int
    /// The placement in force, L × R logical experts (what the expert workers hold), with the
    /// cluster shape the balancer placed it for.
    public var placement: [Int]
    public var numNodes: Int
    public var numGroups: Int
    /// The last rebalance: mean balancedness over ranks before it (measured) and the balancer's
    /// expectation for its placement on the same load.
    public var balancednessBeforeLastRebalance: Double?
    public var expectedBalancednessOfLastRebalance: Double?
    /// Whether the experts of dead expert workers were placed on the live ones (`replace_dead_ranks`).
    public var deadRanksReplaced = false
}

/// The engine's side of expert load balancing (vLLM's `EplbState`): after every step it moves
/// the router's per-slot counts into two recorders, one by logical expert (what the balancer
/// reads) and one by physical slot (what balancedness over ranks is measured on); every
/// `stepInterval` steps, when rebalancing, it reruns the balancer on the window and installs the
/// new placement between two steps. Replicas share weights, so no output changes.
///
/// With expert workers (the router's dispatcher), a new placement is first loaded by the workers
/// beside the one in use, and installed at the first step boundary after every worker has it.
final class EPLBState {
    let router: ExpertRouter
    private(set) var config: EPLBConfig
    let rebalancing: Bool
    private var logical: ExpertLoadRecorder
    private var physical: ExpertLoadRecorder
    private var logicalCounts: [Int32]
    private var steps = 0
    private(set) var rebalances = 0
    private var lastRebalance: (before: Double, expected: Double)?
    /// The router's map, copied at each install (stats are read every step).
    private var placement: [Int]
    /// A placement the workers are loading, with the balancedness the balancer expects of it.
    private var pending: (map: [Int], expected: Double, before: Double)?
    /// Ranks whose worker is gone, and whether the placement in force has none of their slots in use.
    private var deadRanks = Set<Int>()
    private(set) var deadRanksReplaced = false

    init(router: ExpertRouter, config: EPLBConfig, rebalancing: Bool) throws(EngineConfigError) {
        try config.validate()
        let slots = router.numExperts + config.numRedundantExperts
        guard slots % config.numRanks == 0 else {
            throw .invalid("eplb num_ranks \(config.numRanks) must divide the \(router.numExperts) experts plus \(config.numRedundantExperts) redundant ones")
        }
        var ranks = config.numRanks
        if let dispatcher = router.dispatcher {
            let workers = dispatcher.stats.ranks.count
            guard ranks == 1 || ranks == workers else {
                throw .invalid("eplb num_ranks \(ranks) differs from the \(workers) expert workers")
            }
            ranks = workers
            guard slots % ranks == 0 else {
                throw .invalid("\(workers) expert workers do not divide the \(router.numExperts) experts plus \(config.numRedundantExperts) redundant ones")
            }
        }
        do {
            try router.setRanks(1)
            try router.setRedundantExperts(config.numRedundantExperts)
            try router.setRanks(ranks)
        } catch { throw .invalid(error.description) }
        do {
            try RebalanceConfiguration(numReplicas: slots, numGroups: config.numGroups, numNodes: config.numNodes, numGPUs: ranks)
                .validate(numExperts: router.numExperts)
        } catch { throw .invalid("eplb: \(error)") }
        do { try router.dispatcher?.place(router.placement) } catch { throw .invalid(error.description) }
        placement = router.placement
        self.router = router
        self.config = config
        self.config.numRanks = ranks
        self.rebalancing = rebalancing
        let window = ExpertLoadRecorder.Aggregation.window(steps: config.windowSize)
        do {
            logical = try ExpertLoadRecorder(.init(numLayers: router.numLayers, numExperts: router.numExperts, aggregation: window))
            physical = try ExpertLoadRecorder(.init(numLayers: router.numLayers, numExperts: slots, aggregation: window))
        } catch {
            throw .invalid("eplb: \(error)")
        }
        logicalCounts = [Int32](repeating: 0, count: router.numExperts)
    }

    /// Records the step the model just ran and rebalances when it is time.
    func endStep() {
        for layer in 0..<router.numLayers {
            let counts = router.counts(layer: layer), map = router.physicalToLogical(layer: layer)
            for e in logicalCounts.indices { logicalCounts[e] = 0 }
            for (count, expert) in zip(counts, map) { logicalCounts[Int(expert)] += count }
            // Counts of one step are non-negative and far below Int32.max: recording cannot fail.
            try! physical.record(layer: layer, expertCounts: counts)
            try! logical.record(layer: layer, expertCounts: logicalCounts)
        }
        logical.endStep()
        physical.endStep()
        router.resetCounts()
        steps += 1
        if pending != nil { installPrepared() }
        if rebalancing, steps % config.stepInterval == 0, pending == nil { rebalance() }
    }

    /// Installs the placement the workers were loading if they all hold it now: called before
    /// each step, so an idle engine's next step already runs on it (after a dead rank, that step
    /// would otherwise still route to the dead rank's slots).
    func installIfPrepared() {
        if pending != nil { installPrepared() }
    }

    /// After a failed step: notices expert workers that are gone, keeps rows off their slots, and
    /// (with `replace_dead_ranks`) places their experts on the live ranks.
    func stepFailed() {
        guard let dispatcher = router.dispatcher else { return }
        let ranks = dispatcher.stats.ranks
        let dead = Set(ranks.indices.filter { !ranks[$0].alive })
        guard !dead.isEmpty, dead != deadRanks else { return }
        deadRanks = dead
        deadRanksReplaced = false
        router.exclude(ranks: dead)
        log("EPLB: expert worker\(dead.count == 1 ? "" : "s") \(dead.sorted().map(String.init).joined(separator: ", ")) down")
        guard config.replaceDeadRanks else { return }
        let live = (0..<config.numRanks).filter { !dead.contains($0) }
        guard live.count * (router.numPhysicalExperts / config.numRanks) >= router.numExperts else {
            log("EPLB: the \(live.count) live ranks have fewer slots than the \(router.numExperts) experts: nothing re-placed")
            return
        }
        pending = nil
        rebalance()
        log("EPLB: placing the dead ranks' experts on ranks \(live.map(String.init).joined(separator: ", "))")
    }

    /// A placement over the live ranks' slots only (the balancer run for the live ranks), the
    /// dead ranks' slots repeating live ones, which the router never picks over those.
    private func placementOnLiveRanks(_ load: ExpertLoadMatrix) throws -> (map: [Int], expected: Double) {
        let r = router.numPhysicalExperts, perRank = r / config.numRanks
        let live = (0..<config.numRanks).filter { !deadRanks.contains($0) }, liveSlots = live.count * perRank
        let placement = try ExpertLoadBalancer(RebalanceConfiguration(numReplicas: liveSlots, numGPUs: live.count)).rebalance(load)
        let liveMap = placement.physicalToLogicalMap
        var map = [Int](repeating: 0, count: router.numLayers * r)
        for l in 0..<router.numLayers {
            for (i, rank) in live.enumerated() {
                for j in 0..<perRank { map[l * r + rank * perRank + j] = liveMap[l * liveSlots + i * perRank + j] }
            }
            for rank in deadRanks {
                for j in 0..<perRank { map[l * r + rank * perRank + j] = liveMap[l * liveSlots + j] }
            }
        }
        return (map, Balancedness(weight: load, placement: placement).meanAfter)
    }

    /// Installs the placement the workers were loading once they all hold it (or drops it).
    private func installPrepared() {
        guard let (map, expected, before) = pending, let dispatcher = router.dispatcher else { return }
        switch dispatcher.preparation {
        case .pending: return
        case .ready:
            do {
                try router.install(physicalToLogical: map)
                placement = map
                dispatcher.commit()
                deadRanksReplaced = !deadRanks.isEmpty && config.replaceDeadRanks
                physical.reset()
                rebalances += 1
                lastRebalance = (before, expected)
                if config.logBalancedness { logRebalance(before: before, expected: expected) }
            } catch {
                log("EPLB: the placement the workers loaded could not be installed, placement kept: \(error)")
            }
        case .failed(let why): log("EPLB: rebalance at step \(steps) dropped, placement kept: \(why)")
        case .none: break
        }
        pending = nil
    }

    /// Places the replicas for the recorded window and installs the placement.
    private func rebalance() {
        let before = balancedness()
        let configuration = RebalanceConfiguration(numReplicas: router.numPhysicalExperts, numGroups: config.numGroups,
                                                   numNodes: config.numNodes, numGPUs: config.numRanks)
        do {
            let load = logical.load
            if let dispatcher = router.dispatcher {
                let (map, expected): ([Int], Double)
                if !deadRanks.isEmpty && config.replaceDeadRanks {
                    (map, expected) = try placementOnLiveRanks(load)
                } else {
                    let placement = try ExpertLoadBalancer(configuration).rebalance(load)
                    (map, expected) = (placement.physicalToLogicalMap, Balancedness(weight: load, placement: placement).meanAfter)
                }
                pending = (map, expected, mean(before))
                dispatcher.prepare(physicalToLogical: map)
                return
            }
            let placement = try ExpertLoadBalancer(configuration).rebalance(load)
            let expected = Balancedness(weight: load, placement: placement).meanAfter
            try router.install(physicalToLogical: placement.physicalToLogicalMap)
            self.placement = placement.physicalToLogicalMap
            physical.reset()
            rebalances += 1
            lastRebalance = (mean(before), expected)
            if config.logBalancedness { logRebalance(before: mean(before), expected: expected) }
        } catch {
            log("EPLB: rebalance at step \(steps) failed, placement kept: \(error)")
        }
    }

    /// Per layer, average ÷ maximum of the ranks' tokens since the last rebalance.
    func balancedness() -> [Double] {
        let load = physical.load, perRank = router.numPhysicalExperts / config.numRanks
        return (0..<router.numLayers).map { layer in
            let row = load.row(layer)
            let ranks = (0..<config.numRanks).map { r in row[(row.startIndex + r * perRank)..<(row.startIndex + (r + 1) * perRank)].reduce(0, +) }
            return Balancedness.of(gpuLoads: ranks)
        }
    }

    var stats: ExpertLoadStats {
        ExpertLoadStats(load: logical.load, balancedness: balancedness(), numRanks: config.numRanks,
                        numPhysicalExperts: router.numPhysicalExperts, rebalancing: rebalancing, rebalances: rebalances,
                        placement: placement, numNodes: config.numNodes, numGroups: config.numGroups,
                        balancednessBeforeLastRebalance: lastRebalance?.before,
                        expectedBalancednessOfLastRebalance: lastRebalance?.expected, deadRanksReplaced: deadRanksReplaced)
    }

    private func logRebalance(before: Double, expected: Double) {
        log(String(format: "EPLB: rebalanced at step %d; balancedness over %d ranks %.3f, expected %.3f on the same load",
                   steps, config.numRanks, before, expected))
    }

    private func mean(_ values: [Double]) -> Double { values.isEmpty ? 1 : values.reduce(0, +) / Double(values.count) }

    private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}
