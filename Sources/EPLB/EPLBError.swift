/// Everything that can be wrong with a load matrix, a balancer configuration, a load file, a
/// placement mapping or a recorder call, each case naming what and where.
public enum EPLBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The load matrix has no layers or no experts.
    case emptyLoad
    /// A row of the load matrix has a different length from the first row.
    case raggedLoad(layer: Int, count: Int, expected: Int)
    /// A flat value array whose length is not L × E.
    case shapeMismatch(count: Int, expected: Int)
    /// A load is below zero.
    case negativeLoad(layer: Int, expert: Int, value: Double)
    /// A load is NaN, infinite, or too large for the float32 arithmetic of the algorithm.
    case nonFiniteLoad(layer: Int, expert: Int, value: Double)
    /// A count parameter (replicas, groups, nodes, GPUs, window, …) is zero or negative.
    case nonPositiveParameter(name: String, value: Int)
    /// R is not a multiple of P: GPUs would hold different numbers of slots.
    case replicasNotMultipleOfGPUs(replicas: Int, gpus: Int)
    /// R < E: some expert would get no slot.
    case fewerReplicasThanExperts(replicas: Int, experts: Int)
    /// E is not a multiple of G: groups would differ in size.
    case expertsNotMultipleOfGroups(experts: Int, groups: Int)
    /// The hierarchical policy was requested but G is not a multiple of N.
    case groupsNotMultipleOfNodes(groups: Int, nodes: Int)
    /// The hierarchical policy needs P to be a multiple of N.
    case gpusNotMultipleOfNodes(gpus: Int, nodes: Int)
    /// A layer index outside `0..<numLayers`.
    case layerOutOfRange(layer: Int, numLayers: Int)
    /// An expert index outside `0..<numExperts`.
    case expertOutOfRange(expert: Int, numExperts: Int)
    /// A recorded token count outside `0...Int32.max`.
    case invalidCount(layer: Int, expert: Int, count: Int)
    /// A per-expert count vector of the wrong length.
    case expertCountMismatch(count: Int, expected: Int)
    /// A decay factor outside `0 < decay ≤ 1`.
    case invalidDecay(Double)
    /// A load file that is neither an L × E array nor an object with a `weight` key holding one.
    case invalidLoadFile(String)
    /// A skew specification other than `uniform` or `zipf:S` with S ≥ 0.
    case invalidSkew(String)
    /// A placement mapping with no layers (an empty `phy2log`) or no experts.
    case emptyMapping
    /// A map of a placement mapping with the wrong number of entries; `map` says which and where,
    /// e.g. `phy2log[3]` (a row of layer 3) or `log2phy[2][17]` (expert 17 of layer 2).
    case mappingShape(map: String, count: Int, expected: Int)
    /// `phy2log` gives a slot a logical expert outside `0..<numExperts`.
    case slotExpertOutOfRange(layer: Int, slot: Int, expert: Int, numExperts: Int)
    /// No slot of the layer serves this logical expert.
    case expertWithoutSlot(layer: Int, expert: Int)
    /// `logcnt` gives an expert a replica count other than the number of slots `phy2log` gives it.
    case replicaCountMismatch(layer: Int, expert: Int, count: Int, expected: Int)
    /// `log2phy[layer][expert][rank]` is wrong: below the expert's replica count it must be a slot
    /// that holds the expert in `phy2log` and is listed once; from there on it must be −1.
    case replicaSlotMismatch(layer: Int, expert: Int, rank: Int, slot: Int)
    /// A mapping file that is not a placement document (not JSON, a missing key, a wrong type).
    case invalidMappingFile(String)

    public var description: String {
        switch self {
        case .emptyLoad: "the load matrix is empty (it needs at least one layer and one expert)"
        case .raggedLoad(let layer, let count, let expected):
            "load row \(layer) has \(count) experts but row 0 has \(expected)"
        case .shapeMismatch(let count, let expected): "got \(count) load values, expected \(expected) (layers × experts)"
        case .negativeLoad(let layer, let expert, let value):
            "load of layer \(layer), expert \(expert) is negative (\(value))"
        case .nonFiniteLoad(let layer, let expert, let value):
            "load of layer \(layer), expert \(expert) is not a finite float32 (\(value))"
        case .nonPositiveParameter(let name, let value): "\(name) must be positive (got \(value))"
        case .replicasNotMultipleOfGPUs(let r, let p):
            "the number of replicas (\(r)) must be a multiple of the number of GPUs (\(p))"
        case .fewerReplicasThanExperts(let r, let e):
            "the number of replicas (\(r)) must be at least the number of experts (\(e))"
        case .expertsNotMultipleOfGroups(let e, let g):
            "the number of experts (\(e)) must be a multiple of the number of groups (\(g))"
        case .groupsNotMultipleOfNodes(let g, let n):
            "the hierarchical policy needs the number of groups (\(g)) to be a multiple of the number of nodes (\(n))"
        case .gpusNotMultipleOfNodes(let p, let n):
            "the hierarchical policy needs the number of GPUs (\(p)) to be a multiple of the number of nodes (\(n))"
        case .layerOutOfRange(let layer, let n): "layer \(layer) is out of range (there are \(n) layers)"
        case .expertOutOfRange(let expert, let n): "expert \(expert) is out of range (there are \(n) experts)"
        case .invalidCount(let layer, let expert, let count):
            "token count \(count) for layer \(layer), expert \(expert) is outside 0...\(Int32.max)"
        case .expertCountMismatch(let count, let expected): "got \(count) expert counts, expected \(expected)"
        case .invalidDecay(let d): "the decay factor must be in (0, 1] (got \(d))"
        case .invalidLoadFile(let reason): "invalid load file: \(reason)"
        case .invalidSkew(let s): "invalid skew '\(s)' (use 'uniform' or 'zipf:S' with S ≥ 0, e.g. zipf:1.1)"
        case .emptyMapping: "the placement mapping is empty (it needs at least one layer and one expert)"
        case .mappingShape(let map, let count, let expected): "\(map) has \(count) entries, expected \(expected)"
        case .slotExpertOutOfRange(let layer, let slot, let expert, let n):
            "phy2log[\(layer)][\(slot)] is expert \(expert), out of range (there are \(n) experts)"
        case .expertWithoutSlot(let layer, let expert): "expert \(expert) of layer \(layer) has no slot in phy2log"
        case .replicaCountMismatch(let layer, let expert, let count, let expected):
            "logcnt[\(layer)][\(expert)] is \(count) but phy2log gives expert \(expert) \(expected) slots"
        case .replicaSlotMismatch(let layer, let expert, let rank, let slot):
            "log2phy[\(layer)][\(expert)][\(rank)] = \(slot) does not agree with phy2log "
                + "(expected one of the expert's slots, each once, then −1 padding)"
        case .invalidMappingFile(let reason): "invalid mapping file: \(reason)"
        }
    }
}
