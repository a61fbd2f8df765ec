import EPLB
import Foundation
import Testing

@Suite struct ValidationTests {
    static let rows: [[Double]] = [[1, 2, 3, 4], [4, 3, 2, 1]]

    func rebalance(_ rows: [[Double]] = rows, r: Int = 8, g: Int = 2, n: Int = 2, p: Int = 4, policy: BalancingPolicy = .auto) throws(EPLBError) -> ExpertPlacement {
        try rebalanceExperts(weight: rows, numReplicas: r, numGroups: g, numNodes: n, numGPUs: p, policy: policy)
    }

    @Test func invalidLoadsAreTypedErrors() {
        #expect(throws: EPLBError.emptyLoad) { try rebalance([]) }
        #expect(throws: EPLBError.emptyLoad) { try rebalance([[]]) }
        #expect(throws: EPLBError.raggedLoad(layer: 1, count: 3, expected: 4)) { try rebalance([[1, 2, 3, 4], [1, 2, 3]]) }
        #expect(throws: EPLBError.negativeLoad(layer: 1, expert: 2, value: -1)) { try rebalance([[1, 2, 3, 4], [1, 2, -1, 4]]) }
        #expect(throws: EPLBError.self) { try rebalance([[1, .nan, 3, 4]]) }
        #expect(throws: EPLBError.nonFiniteLoad(layer: 0, expert: 3, value: .infinity)) { try rebalance([[1, 2, 3, .infinity]]) }
        #expect(throws: EPLBError.nonFiniteLoad(layer: 0, expert: 0, value: 1e39)) { try rebalance([[1e39, 2, 3, 4]]) }
        #expect(throws: EPLBError.shapeMismatch(count: 3, expected: 4)) {
            try ExpertLoadMatrix(numLayers: 2, numExperts: 2, values: [1, 2, 3])
        }
    }

    @Test func invalidParametersAreTypedErrors() {
        #expect(throws: EPLBError.replicasNotMultipleOfGPUs(replicas: 6, gpus: 4)) { try rebalance(r: 6) }
        #expect(throws: EPLBError.fewerReplicasThanExperts(replicas: 2, experts: 4)) { try rebalance(r: 2, g: 1, n: 1, p: 2) }
        #expect(throws: EPLBError.expertsNotMultipleOfGroups(experts: 4, groups: 3)) { try rebalance(g: 3, n: 1) }
        #expect(throws: EPLBError.gpusNotMultipleOfNodes(gpus: 4, nodes: 3)) {
            try rebalance([[1, 2, 3, 4, 5, 6]], r: 12, g: 3, n: 3, p: 4)
        }
        #expect(throws: EPLBError.groupsNotMultipleOfNodes(groups: 2, nodes: 4)) {
            try rebalance(g: 2, n: 4, policy: .hierarchical)
        }
        #expect(throws: EPLBError.nonPositiveParameter(name: "numGPUs", value: 0)) { try rebalance(p: 0) }
        #expect(throws: EPLBError.nonPositiveParameter(name: "numReplicas", value: -8)) { try rebalance(r: -8) }
        #expect(throws: EPLBError.nonPositiveParameter(name: "threads", value: 0)) {
            try ExpertLoadBalancer(RebalanceConfiguration(numReplicas: 8, numGPUs: 4)).rebalance(ExpertLoadMatrix(rows: Self.rows), threads: 0)
        }
    }

    @Test func policyFollowsTheReferenceRule() throws {
        #expect(try rebalance(g: 2, n: 2).policy == .hierarchical)
        #expect(try rebalance(g: 2, n: 4, p: 4).policy == .global)  // G % N ≠ 0
        #expect(try rebalance(r: 12, g: 4, n: 3, p: 4).policy == .global)  // P % N is not required here
        #expect(try rebalance(g: 2, n: 2, policy: .global).policy == .global)
        #expect(try rebalance(g: 1, n: 1).policy == .hierarchical)  // N = 1 takes the hierarchical branch
    }

    @Test func errorsReadAsOneLine() {
        let errors: [EPLBError] = [
            .emptyLoad, .raggedLoad(layer: 1, count: 2, expected: 3), .negativeLoad(layer: 0, expert: 1, value: -2),
            .replicasNotMultipleOfGPUs(replicas: 6, gpus: 4), .invalidLoadFile("not valid JSON"), .invalidSkew("zipf"),
            .emptyMapping, .mappingShape(map: "phy2log[3]", count: 7, expected: 8),
            .slotExpertOutOfRange(layer: 1, slot: 2, expert: 9, numExperts: 8), .expertWithoutSlot(layer: 0, expert: 5),
            .replicaCountMismatch(layer: 0, expert: 1, count: 2, expected: 3),
            .replicaSlotMismatch(layer: 0, expert: 1, rank: 0, slot: 4), .invalidMappingFile("missing key 'phy2log'"),
        ]
        for error in errors {
            #expect(!error.description.isEmpty && !error.description.contains("\n"))
        }
    }

    @Test func zeroLoadsAreValidAndBalancednessIsOne() throws {
        let placement = try rebalance([[0, 0, 0, 0]])
        #expect(placement.logcnt == [[3, 1, 3, 1]])  // all quotients tie: the first expert of each node wins
        let weight = try ExpertLoadMatrix(rows: [[0, 0, 0, 0]])
        let b = Balancedness(weight: weight, placement: placement)
        #expect(b.perLayerBefore == [1] && b.perLayerAfter == [1])
    }

    @Test func negativeZeroIsZero() throws {
        #expect(try rebalance([[-0.0, 1, 2, 3]]) == rebalance([[0, 1, 2, 3]]))
    }

    @Test func presetsGiveTheArticlesShapes() {
        #expect(DeploymentPreset.prefill.configuration(numExperts: 256)
            == RebalanceConfiguration(numReplicas: 288, numGroups: 8, numNodes: 4, numGPUs: 32, policy: .auto))
        #expect(DeploymentPreset.decode.configuration(numExperts: 256)
            == RebalanceConfiguration(numReplicas: 320, numGroups: 8, numNodes: 40, numGPUs: 320, policy: .global))
        for preset in DeploymentPreset.allCases {
            for experts in [8, 60, 64, 160, 256] {
                #expect(throws: Never.self) { try preset.configuration(numExperts: experts).validate(numExperts: experts) }
            }
        }
    }
}
