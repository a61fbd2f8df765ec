import EPLB
@testable import Models
import Testing

/// The router realizes the split the balancer's placement assumes: over many passes, each
/// replica of an expert gets its load ÷ its replicas, so the ranks' rows match
/// `ExpertPlacement.gpuLoads` on the same load.
@Suite struct ExpertRouterTests {
    /// Routes `passes` passes of one layer whose pairs go to the experts `load[e]` times each
    /// (experts interleaved, as tokens mix them), and returns the rows of each slot.
    static func route(_ router: ExpertRouter, load: [Int], passes: Int) -> [Int] {
        var rows = [Int](repeating: 0, count: router.numPhysicalExperts)
        let pairs = load.indices.flatMap { e in Array(repeating: e, count: load[e]) }.shuffled(using: &Self.rng)
        for _ in 0..<passes {
            var ordinal = [Int](repeating: 0, count: load.count)
            for e in pairs {
                rows[router.slot(layer: 0, expert: e, ordinal: ordinal[e], of: load[e])] += 1
                ordinal[e] += 1
            }
            router.routed(layer: 0, pairs: pairs.count)
        }
        return rows
    }

    nonisolated(unsafe) static var rng = SplitMix64(seed: 5)

    @Test func ranksGetWhatTheBalancerPromises() throws {
        let experts = 64, ranks = 32, slots = 96
        var generator = SplitMix64(seed: 9)
        // A skewed load: a few hot experts.
        let load = (0..<experts).map { e in e < 4 ? 40 + Int(generator.next() % 20) : 1 + Int(generator.next() % 8) }
        let weight = try ExpertLoadMatrix(rows: [load.map(Double.init)])
        let placement = try ExpertLoadBalancer(RebalanceConfiguration(numReplicas: slots, numGPUs: ranks)).rebalance(weight)
        let router = ExpertRouter(numLayers: 1, numExperts: experts)
        try router.setRedundantExperts(slots - experts)
        try router.setRanks(ranks)
        try router.install(physicalToLogical: placement.physicalToLogicalMap)
        let passes = 240
        let rows = Self.route(router, load: load, passes: passes)
        let perRank = slots / ranks
        let realized = (0..<ranks).map { r in Double(rows[(r * perRank)..<((r + 1) * perRank)].reduce(0, +)) / Double(passes) }
        let promised = placement.gpuLoads(layer: 0, weight: weight)
        for (a, b) in zip(realized, promised) { #expect(abs(a - b) <= 0.5, "rank rows \(a) vs the balancer's \(b)") }
        #expect(abs(Balancedness.of(gpuLoads: realized) - Balancedness.of(gpuLoads: promised)) < 0.02)
    }
}
