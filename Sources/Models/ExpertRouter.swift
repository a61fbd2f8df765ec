/// Where the tokens of a model's MoE layers go, and how many went where.
///
/// It holds, for every MoE layer, the map from physical expert slots to the logical experts
/// whose weights they serve (EPLB's `phy2log`, `log2phy` and `logcnt`). With no redundancy the
/// map is the identity; with R redundant slots the first placement is vLLM's (slot s serves
/// expert s mod E) until ``install(physicalToLogical:)`` puts a balancer's placement in.
/// The (token, expert) pairs a pass routes to a replicated expert are split evenly over its
/// replicas, as the balancer's placement assumes, with the order rotating across passes (each
/// layer numbers the pairs it routes), so that even one sequence's decode spreads over them. The
/// slots are spread over ``numRanks`` ranks, R/P consecutive slots each; replicas on ranks whose
/// worker is gone (``exclude(ranks:)``) take no pairs while the expert has others.
/// Every replica multiplies by the same weights, so outputs never depend on the map.
///
/// With a ``dispatcher``, the routed experts run on expert workers instead of in this process.
///
/// Each forward pass adds, per layer, the tokens it sends to each physical slot to ``counts(layer:)``;
/// the engine reads them after the step and calls ``resetCounts()``. Install and read between
/// forward passes, on the thread that runs them.
public final class ExpertRouter: @unchecked Sendable {
    /// MoE layers, in decoder order.
    public let numLayers: Int
    /// E, logical experts per layer.
    public let numExperts: Int
    /// R, physical slots per layer (E plus the redundant ones).
    public private(set) var numPhysicalExperts: Int
    /// L × R: the logical expert of each slot.
    private(set) var physicalToLogical: [Int32]
    /// L × E: how many slots serve each logical expert.
    private(set) var replicaCount: [Int32]
    /// L × E × `maxReplicas`: the slots of each logical expert, by replica rank.
    private(set) var logicalToPhysical: [Int32]
    private(set) var maxReplicas: Int
    /// L × R token counts of the forward passes since the last ``resetCounts()``.
    private(set) var counts: [Int32]
    /// Per layer, the passes routed so far: the rotation of replica shares (by pass, not by
    /// pair, so that a batch whose pair count is a multiple of the replicas still rotates).
    private var passesRouted: [Int]
    /// Ranks the slots are spread over (consecutive runs of R/P slots).
    public private(set) var numRanks = 1
    /// Ranks whose worker is gone: their replicas take no pairs while the expert has others.
    private var excluded: [Bool] = [false]
    private var hasExcludedRanks = false
    /// Where the routed experts run when not in this process (expert parallelism); set before the first pass.
    public var dispatcher: (any ExpertDispatcher)?
    /// With a dispatcher: split each batch of two or more sequences into two micro-batches and
    /// run one's attention while the other's experts compute (SGLang's two-batch overlap).
    public var overlapsMicroBatches = false

    init(numLayers: Int, numExperts: Int) {
        self.numLayers = numLayers
        self.numExperts = numExperts
        numPhysicalExperts = numExperts
        physicalToLogical = []
        replicaCount = []
        logicalToPhysical = []
        maxReplicas = 1
        counts = []
        passesRouted = [Int](repeating: 0, count: numLayers)
        try! setRedundantExperts(0)
    }

    /// Gives every layer `redundant` extra slots, placed as vLLM's first placement (slot s serves
    /// expert s mod E); counts restart.
    public func setRedundantExperts(_ redundant: Int) throws(ModelError) {
        guard redundant >= 0 else { throw .invalidConfig("num_redundant_experts must be ≥ 0") }
        let r = numExperts + redundant
        guard r % numRanks == 0 else { throw .invalidConfig("\(numRanks) ranks do not divide \(r) expert slots") }
        numPhysicalExperts = r
        let map = (0..<numLayers).flatMap { _ in (0..<r).map { $0 % numExperts } }
        try install(physicalToLogical: map)
    }

    /// Spreads the slots over `ranks` ranks (R/P consecutive slots each), which replica choice balances.
    public func setRanks(_ ranks: Int) throws(ModelError) {
        guard ranks >= 1, numPhysicalExperts % ranks == 0 else {
            throw .invalidConfig("\(ranks) ranks do not divide the \(numPhysicalExperts) expert slots of a layer")
        }
        numRanks = ranks
        excluded = [Bool](repeating: false, count: ranks)
        hasExcludedRanks = false
    }

    /// Marks the ranks whose worker is gone: pairs go to a replica on another rank whenever
    /// their expert has one.
    public func exclude(ranks: some Sequence<Int>) {
        for r in ranks where excluded.indices.contains(r) {
            excluded[r] = true
            hasExcludedRanks = true
        }
    }

    /// Installs a placement: L × R logical expert ids (a balancer's `physicalToLogicalMap`).
    /// Every expert must keep at least one slot. Counts restart.
    public func install(physicalToLogical map: [Int]) throws(ModelError) {
        let r = numPhysicalExperts, e = numExperts
        guard map.count == numLayers * r else {
            throw .invalidConfig("an expert placement needs \(numLayers) × \(r) slots, got \(map.count)")
        }
        var replicas = [Int32](repeating: 0, count: numLayers * e)
        for l in 0..<numLayers {
            for s in 0..<r {
                let expert = map[l * r + s]
                guard expert >= 0, expert < e else { throw .invalidConfig("slot \(s) of MoE layer \(l) names expert \(expert) of \(e)") }
                replicas[l * e + expert] += 1
            }
        }
        guard let missing = replicas.firstIndex(of: 0) else {
            let width = Int(replicas.max() ?? 1)
            var slots = [Int32](repeating: -1, count: numLayers * e * width)
            var rank = [Int32](repeating: 0, count: numLayers * e)
            for l in 0..<numLayers {
                for s in 0..<r {
                    let i = l * e + map[l * r + s]
                    slots[i * width + Int(rank[i])] = Int32(s)
                    rank[i] += 1
                }
            }
            physicalToLogical = map.map { Int32($0) }
            replicaCount = replicas
            logicalToPhysical = slots
            maxReplicas = width
            counts = [Int32](repeating: 0, count: numLayers * r)
            return
        }
        throw .invalidConfig("the placement gives expert \(missing % e) of MoE layer \(missing / e) no slot")
    }

    /// The slot that serves the `ordinal`-th of the `count` pairs a pass of MoE layer `layer`
    /// routes to `expert`: its replicas (those on live ranks) take equal shares of the pairs, as
    /// the balancer's placement assumes (each replica of an expert gets its load ÷ replicas), in an
    /// order that rotates from pass to pass so the remainders even out too.
    @inline(__always) func slot(layer: Int, expert: Int, ordinal: Int, of count: Int) -> Int {
        let i = layer * numExperts + expert
        let n = Int(replicaCount[i]), base = i * maxReplicas
        guard n > 1 else { return Int(logicalToPhysical[base]) }
        var live = n
        if hasExcludedRanks {
            live = 0
            for j in 0..<n where !excluded[Int(logicalToPhysical[base + j]) / (numPhysicalExperts / numRanks)] { live += 1 }
            if live == 0 { return Int(logicalToPhysical[base]) }
        }
        var pick = (ordinal * live / count + passesRouted[layer]) % live
        for j in 0..<n {
            let s = Int(logicalToPhysical[base + j])
            if hasExcludedRanks && excluded[s / (numPhysicalExperts / numRanks)] { continue }
            if pick == 0 { return s }
            pick -= 1
        }
        return Int(logicalToPhysical[base])
    }

    /// Ends a pass of `count` pairs through MoE layer `layer` (the next pass rotates the shares on).
    @inline(__always) func routed(layer: Int, pairs count: Int) {
        passesRouted[layer] = (passesRouted[layer] &+ 1) & Int(Int32.max)
    }

    /// The logical expert that physical slot `slot` of MoE layer `layer` serves.
    @inline(__always) public func logicalExpert(layer: Int, slot: Int) -> Int {
        Int(physicalToLogical[layer * numPhysicalExperts + slot])
    }

    @inline(__always) func count(layer: Int, slot: Int) {
        counts[layer * numPhysicalExperts + slot] &+= 1
    }

    /// The tokens each physical slot of MoE layer `layer` got since the last ``resetCounts()``.
    public func counts(layer: Int) -> ArraySlice<Int32> {
        counts[layer * numPhysicalExperts..<(layer + 1) * numPhysicalExperts]
    }

    /// The whole map, L × R logical experts (a balancer's `physicalToLogicalMap` layout).
    public var placement: [Int] { physicalToLogical.map { Int($0) } }

    /// The logical expert each physical slot of MoE layer `layer` serves.
    public func physicalToLogical(layer: Int) -> ArraySlice<Int32> {
        physicalToLogical[layer * numPhysicalExperts..<(layer + 1) * numPhysicalExperts]
    }

    /// Zeroes the counts (the engine does it after reading a step's).
    public func resetCounts() {
        for i in counts.indices { counts[i] = 0 }
    }
}
