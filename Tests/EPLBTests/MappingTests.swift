import EPLB
import Foundation
import Testing

/// Rebuilding an `ExpertPlacement` from the mapping file (`PlacementDocument` JSON).
@Suite struct MappingTests {
    static func document(_ placement: ExpertPlacement, _ weight: ExpertLoadMatrix) -> PlacementDocument {
        PlacementDocument(placement: placement, balancedness: Balancedness(weight: weight, placement: placement))
    }

    /// Writing a placement's mapping and reading it back gives the balancer's placement for the
    /// policy that ran (for `.auto` the file records the resolved policy).
    @Test func placementsRoundTripThroughTheMappingJSON() throws {
        var cases: [(ExpertLoadMatrix, RebalanceConfiguration)] = []
        for preset in DeploymentPreset.allCases {
            let weight = try SyntheticLoad(numLayers: 6, numExperts: 64, skew: .zipf(exponent: 1.1), seed: 4).matrix()
            cases.append((weight, preset.configuration(numExperts: 64)))
        }
        for seed in 0..<300 {
            let c = RandomCase(seed: UInt64(seed))
            cases.append((c.weight, c.configuration))
        }
        for (weight, configuration) in cases {
            let placement = try ExpertLoadBalancer(configuration).rebalance(weight)
            let explicit = try ExpertLoadBalancer(configuration.with(policy: placement.policy)).rebalance(weight)
            let json = try Self.document(placement, weight).jsonData()
            let rebuilt = try ExpertPlacement(mappingJSON: json)
            #expect(rebuilt == explicit, "\(configuration)")
            #expect(rebuilt.phy2log == placement.phy2log && rebuilt.log2phy == placement.log2phy && rebuilt.logcnt == placement.logcnt)
            if configuration.policy != .auto { #expect(rebuilt == placement) }
        }
    }

    @Test func placementRoundTripsThroughAMappingFile() throws {
        let weight = try SyntheticLoad(numLayers: 58, numExperts: 256, skew: .zipf(exponent: 1.1), seed: 1).matrix()
        let configuration = DeploymentPreset.prefill.configuration(numExperts: 256).with(policy: .hierarchical)
        let placement = try ExpertLoadBalancer(configuration).rebalance(weight)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eplb-mapping-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Self.document(placement, weight).jsonData().write(to: url)
        #expect(try ExpertPlacement(mappingJSON: Data(contentsOf: url)) == placement)
    }

    @Test func withoutLog2phyRanksFollowSlotOrder() throws {
        let weight = try SyntheticLoad(numLayers: 3, numExperts: 64, skew: .zipf(exponent: 1.1), seed: 5).matrix()
        let placement = try ExpertLoadBalancer(DeploymentPreset.prefill.configuration(numExperts: 64)).rebalance(weight)
        let rebuilt = try ExpertPlacement(
            configuration: placement.configuration, numExperts: 64, phy2log: placement.phy2log)
        #expect(rebuilt.phy2log == placement.phy2log && rebuilt.logcnt == placement.logcnt)
        #expect(rebuilt.maxReplicas == placement.maxReplicas)
        for layer in 0..<3 {
            for expert in 0..<64 {
                #expect(Array(rebuilt.slots(layer: layer, expert: expert)) == placement.slots(layer: layer, expert: expert).sorted())
            }
        }
    }

    /// A small valid document (2 layers, 16 experts, 24 slots on 8 GPUs in 2 nodes) with an expert
    /// of one replica and one of several in layer 0 (so log2phy rows have padding).
    static func smallDocument() throws -> (document: PlacementDocument, single: Int, multiple: Int) {
        let weight = try SyntheticLoad(numLayers: 2, numExperts: 16, skew: .zipf(exponent: 1.1), seed: 3).matrix()
        let configuration = RebalanceConfiguration(numReplicas: 24, numGroups: 4, numNodes: 2, numGPUs: 8, policy: .hierarchical)
        let document = document(try ExpertLoadBalancer(configuration).rebalance(weight), weight)
        let single = try #require(document.logcnt[0].firstIndex(of: 1))
        let multiple = try #require(document.logcnt[0].firstIndex { $0 > 1 })
        return (document, single, multiple)
    }

    func rebuild(_ document: PlacementDocument) throws(EPLBError) -> ExpertPlacement {
        try document.placement()
    }

    @Test func malformedMapsGiveSpecificErrors() throws {
        let (valid, single, multiple) = try Self.smallDocument()
        let r = valid.numReplicas, w = valid.log2phy[0][0].count
        #expect(throws: Never.self) { try rebuild(valid) }
        func changed(_ change: (inout PlacementDocument) -> Void) -> PlacementDocument {
            var document = valid
            change(&document)
            return document
        }
        let singleSlot = valid.log2phy[0][single][0], otherSlot = valid.log2phy[0][multiple][0]

        #expect(throws: EPLBError.emptyMapping) { try rebuild(changed { $0.phy2log = [] }) }
        #expect(throws: EPLBError.emptyMapping) { try rebuild(changed { $0.logcnt = [[], []] }) }
        #expect(throws: EPLBError.mappingShape(map: "logcnt", count: 1, expected: 2)) { try rebuild(changed { $0.logcnt.removeLast() }) }
        #expect(throws: EPLBError.mappingShape(map: "logcnt[1]", count: 15, expected: 16)) {
            try rebuild(changed { $0.logcnt[1].removeLast() })
        }
        #expect(throws: EPLBError.mappingShape(map: "phy2log[1]", count: r - 1, expected: r)) {
            try rebuild(changed { $0.phy2log[1].removeLast() })
        }
        #expect(throws: EPLBError.replicasNotMultipleOfGPUs(replicas: r, gpus: 5)) { try rebuild(changed { $0.numGPUs = 5 }) }
        #expect(throws: EPLBError.fewerReplicasThanExperts(replicas: 8, experts: 16)) { try rebuild(changed { $0.numReplicas = 8 }) }
        #expect(throws: EPLBError.mappingShape(map: "phy2log[0]", count: r, expected: r + 8)) {
            try rebuild(changed { $0.numReplicas = r + 8 })
        }
        #expect(throws: EPLBError.slotExpertOutOfRange(layer: 0, slot: 3, expert: 16, numExperts: 16)) {
            try rebuild(changed { $0.phy2log[0][3] = 16 })
        }
        #expect(throws: EPLBError.slotExpertOutOfRange(layer: 1, slot: 0, expert: -1, numExperts: 16)) {
            try rebuild(changed { $0.phy2log[1][0] = -1 })
        }
        #expect(throws: EPLBError.expertWithoutSlot(layer: 0, expert: single)) {
            try rebuild(changed { $0.phy2log[0][singleSlot] = multiple })
        }
        #expect(throws: EPLBError.replicaCountMismatch(layer: 0, expert: single, count: 2, expected: 1)) {
            try rebuild(changed { $0.logcnt[0][single] = 2 })
        }
        #expect(throws: EPLBError.mappingShape(map: "log2phy", count: 1, expected: 2)) { try rebuild(changed { $0.log2phy.removeLast() }) }
        #expect(throws: EPLBError.mappingShape(map: "log2phy[1]", count: 15, expected: 16)) {
            try rebuild(changed { $0.log2phy[1].removeLast() })
        }
        #expect(throws: EPLBError.mappingShape(map: "log2phy[0][\(single)]", count: w + 1, expected: w)) {
            try rebuild(changed { $0.log2phy[0][single].append(-1) })
        }
        // A slot of another expert, a slot listed twice, a slot out of range, a slot in the padding.
        #expect(throws: EPLBError.replicaSlotMismatch(layer: 0, expert: single, rank: 0, slot: otherSlot)) {
            try rebuild(changed { $0.log2phy[0][single][0] = otherSlot })
        }
        #expect(throws: EPLBError.replicaSlotMismatch(layer: 0, expert: multiple, rank: 1, slot: otherSlot)) {
            try rebuild(changed { $0.log2phy[0][multiple][1] = otherSlot })
        }
        #expect(throws: EPLBError.replicaSlotMismatch(layer: 0, expert: multiple, rank: 0, slot: r)) {
            try rebuild(changed { $0.log2phy[0][multiple][0] = r })
        }
        #expect(throws: EPLBError.replicaSlotMismatch(layer: 0, expert: single, rank: 1, slot: singleSlot)) {
            try rebuild(changed { $0.log2phy[0][single][1] = singleSlot })
        }
        #expect(throws: EPLBError.groupsNotMultipleOfNodes(groups: 4, nodes: 3)) {
            try rebuild(changed { $0.numNodes = 3 })
        }
    }

    @Test func malformedFilesGiveSpecificErrors() throws {
        let (valid, _, _) = try Self.smallDocument()
        let object = try #require(try JSONSerialization.jsonObject(with: valid.jsonData()) as? [String: Any])
        func file(_ change: (inout [String: Any]) -> Void) throws -> Data {
            var copy = object
            change(&copy)
            return try JSONSerialization.data(withJSONObject: copy)
        }
        func read(_ data: Data) throws(EPLBError) -> ExpertPlacement { try ExpertPlacement(mappingJSON: data) }

        #expect(throws: Never.self) { try read(file { _ in }) }
        #expect(throws: EPLBError.invalidMappingFile("not valid JSON")) { try read(Data("{\"phy2log\": [[1,".utf8)) }
        #expect(throws: EPLBError.invalidMappingFile("missing key 'phy2log'")) { try read(file { $0["phy2log"] = nil }) }
        #expect(throws: EPLBError.invalidMappingFile("missing key 'num_gpus'")) { try read(file { $0["num_gpus"] = nil }) }
        #expect(throws: EPLBError.invalidMappingFile("wrong type at 'phy2log[0][2]'")) {
            try read(file { document in
                var rows = document["phy2log"] as! [[Any]]
                rows[0][2] = "three"
                document["phy2log"] = rows
            })
        }
        #expect(throws: EPLBError.invalidMappingFile("invalid value at 'policy'")) { try read(file { $0["policy"] = "sideways" }) }
        #expect(throws: EPLBError.invalidMappingFile("wrong type at ''")) { try read(Data("[1, 2]".utf8)) }
        #expect(throws: EPLBError.expertWithoutSlot(layer: 1, expert: 0)) {
            try read(file { document in
                var rows = document["phy2log"] as! [[Int]]
                rows[1] = rows[1].map { $0 == 0 ? 1 : $0 }
                document["phy2log"] = rows
            })
        }
    }
}
