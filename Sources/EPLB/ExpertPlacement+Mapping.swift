import Foundation

/// Rebuilding a placement from a mapping (the `phy2log` / `log2phy` / `logcnt` maps the CLI writes
/// with `--out`), e.g. to load a placement computed elsewhere. Every map is checked against the
/// others and against the cluster shape; the first inconsistency is thrown as an ``EPLBError``.
extension ExpertPlacement {
    /// A placement from its slot → expert map.
    ///
    /// - Parameters:
    ///   - configuration: the cluster shape (R, G, N, P) and policy; it must pass
    ///     ``RebalanceConfiguration/validate(numExperts:)`` (so every GPU holds R/P slots).
    ///   - numExperts: E, the number of logical experts per layer.
    ///   - phy2log: L × R, the logical expert each slot serves.
    ///   - log2phy: L × E × W (W = the largest replica count of any expert of any layer), each
    ///     expert's slots by replica rank, padded with −1. It only fixes which slot is replica rank
    ///     0, 1, …; without it the ranks follow slot order.
    /// - Throws: `.emptyMapping` for no layers or no experts; the configuration's errors;
    ///   `.mappingShape` for a row of the wrong length; `.slotExpertOutOfRange` for an expert id
    ///   outside `0..<numExperts`; `.expertWithoutSlot` for an expert no slot serves;
    ///   `.replicaSlotMismatch` when `log2phy` disagrees with `phy2log`.
    public init(
        configuration: RebalanceConfiguration, numExperts: Int, phy2log: [[Int]], log2phy: [[[Int]]]? = nil
    ) throws(EPLBError) {
        guard !phy2log.isEmpty, numExperts > 0 else { throw .emptyMapping }
        try configuration.validate(numExperts: numExperts)
        let numLayers = phy2log.count, r = configuration.numReplicas, e = numExperts
        var experts = [Int]()
        experts.reserveCapacity(numLayers * r)
        var counts = [Int](repeating: 0, count: numLayers * e)
        for (layer, row) in phy2log.enumerated() {
            guard row.count == r else { throw .mappingShape(map: "phy2log[\(layer)]", count: row.count, expected: r) }
            for (slot, expert) in row.enumerated() {
                guard (0..<e).contains(expert) else {
                    throw .slotExpertOutOfRange(layer: layer, slot: slot, expert: expert, numExperts: e)
                }
                counts[layer * e + expert] += 1
                experts.append(expert)
            }
        }
        if let missing = counts.firstIndex(of: 0) {
            throw .expertWithoutSlot(layer: missing / e, expert: missing % e)
        }
        var ranks = [Int32](repeating: -1, count: numLayers * r)
        if let log2phy {
            try Self.readRanks(log2phy, experts: experts, counts: counts, numExperts: e, numReplicas: r, into: &ranks)
        } else {
            var next = [Int32](repeating: 0, count: numLayers * e)
            for i in 0..<numLayers * r {
                let key = i / r * e + experts[i]
                ranks[i] = next[key]
                next[key] += 1
            }
        }
        self.init(
            configuration: configuration, numLayers: numLayers, numExperts: e, physicalToLogical: experts,
            physicalRank: ranks, replicaCounts: counts)
    }

    /// The placement a mapping file (``PlacementDocument``'s JSON) describes.
    /// - Throws: `.invalidMappingFile` when the JSON is not a placement document, otherwise the
    ///   errors of ``PlacementDocument/placement()``.
    public init(mappingJSON data: Data) throws(EPLBError) {
        let document: PlacementDocument
        do {
            document = try JSONDecoder().decode(PlacementDocument.self, from: data)
        } catch {
            throw .invalidMappingFile(Self.reason(error))
        }
        self = try document.placement()
    }

    /// Replica ranks from `log2phy`: for each expert, ranks below its count must name distinct
    /// slots holding it; the rest of the row must be −1.
    private static func readRanks(
        _ log2phy: [[[Int]]], experts: [Int], counts: [Int], numExperts e: Int, numReplicas r: Int,
        into ranks: inout [Int32]
    ) throws(EPLBError) {
        let numLayers = experts.count / r, width = counts.max() ?? 0
        guard log2phy.count == numLayers else {
            throw .mappingShape(map: "log2phy", count: log2phy.count, expected: numLayers)
        }
        for (layer, rows) in log2phy.enumerated() {
            guard rows.count == e else { throw .mappingShape(map: "log2phy[\(layer)]", count: rows.count, expected: e) }
            for (expert, row) in rows.enumerated() {
                guard row.count == width else {
                    throw .mappingShape(map: "log2phy[\(layer)][\(expert)]", count: row.count, expected: width)
                }
                let count = counts[layer * e + expert]
                for (rank, slot) in row.enumerated() {
                    let valid =
                        rank < count
                        ? (0..<r).contains(slot) && experts[layer * r + slot] == expert && ranks[layer * r + slot] < 0
                        : slot == -1
                    guard valid else { throw .replicaSlotMismatch(layer: layer, expert: expert, rank: rank, slot: slot) }
                    if rank < count { ranks[layer * r + slot] = Int32(rank) }
                }
            }
        }
    }

    /// One line for a decoding error: what is wrong and where (`phy2log[0][3]`, `num_gpus`).
    private static func reason(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { text, key in
                key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue)
            }
        }
        switch error {
        case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty: return "not valid JSON"
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(path(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(path(context.codingPath))'"
        case DecodingError.dataCorrupted(let context): return "invalid value at '\(path(context.codingPath))'"
        default: return "\(error)"
        }
    }
}

extension PlacementDocument {
    /// The cluster shape, with the policy that ran (a placement computed with `.auto` records
    /// `hierarchical` or `global`).
    public var configuration: RebalanceConfiguration {
        RebalanceConfiguration(numReplicas: numReplicas, numGroups: numGroups, numNodes: numNodes, numGPUs: numGPUs, policy: policy)
    }

    /// The placement this document describes: E is the width of `logcnt`, the ranks come from
    /// `log2phy`, and `logcnt` must agree with `phy2log`. Equal to the placement the document was
    /// made from, except that its configuration carries the policy that ran instead of `.auto`.
    /// - Throws: `.emptyMapping`, `.mappingShape` for a `logcnt` of the wrong shape,
    ///   `.replicaCountMismatch`, or the errors of
    ///   ``ExpertPlacement/init(configuration:numExperts:phy2log:log2phy:)``.
    public func placement() throws(EPLBError) -> ExpertPlacement {
        guard !phy2log.isEmpty else { throw .emptyMapping }
        guard logcnt.count == phy2log.count else {
            throw .mappingShape(map: "logcnt", count: logcnt.count, expected: phy2log.count)
        }
        let e = logcnt[0].count
        guard e > 0 else { throw .emptyMapping }
        for (layer, row) in logcnt.enumerated() where row.count != e {
            throw .mappingShape(map: "logcnt[\(layer)]", count: row.count, expected: e)
        }
        let placement = try ExpertPlacement(configuration: configuration, numExperts: e, phy2log: phy2log, log2phy: log2phy)
        for (layer, row) in logcnt.enumerated() {
            for (expert, count) in row.enumerated() where count != placement.logicalReplicaCount[layer * e + expert] {
                throw .replicaCountMismatch(
                    layer: layer, expert: expert, count: count, expected: placement.logicalReplicaCount[layer * e + expert])
            }
        }
        return placement
    }
}
