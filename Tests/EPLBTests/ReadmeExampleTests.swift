import EPLB
import Foundation
import Testing

@Suite struct ReadmeExampleTests {
    @Test func reproducesTheUpstreamOutputsExactly() throws {
        let ex = try ReadmeExample.load()
        let placement = try rebalanceExperts(
            weight: ex.weight, numReplicas: ex.numReplicas, numGroups: ex.numGroups, numNodes: ex.numNodes,
            numGPUs: ex.numGPUs)
        #expect(placement.policy == .hierarchical)
        #expect(placement.phy2log == ex.phy2log)
        #expect(placement.log2phy == ex.log2phy)
        #expect(placement.logcnt == ex.logcnt)
        #expect(placement.maxReplicas == 2)
    }

    @Test func reproducesTheBalancedness() throws {
        let ex = try ReadmeExample.load()
        let weight = try ExpertLoadMatrix(rows: ex.weight)
        let configuration = RebalanceConfiguration(
            numReplicas: ex.numReplicas, numGroups: ex.numGroups, numNodes: ex.numNodes, numGPUs: ex.numGPUs)
        let placement = try ExpertLoadBalancer(configuration).rebalance(weight)
        let balancedness = Balancedness(weight: weight, placement: placement)
        #expect(balancedness.meanBefore == ex.balancednessBefore)
        #expect(balancedness.meanAfter == ex.balancednessAfter)
        #expect(balancedness.meanAfter > balancedness.meanBefore)
    }

    @Test func readsTheExampleFileAsALoadFile() throws {
        let weight = try ExpertLoadMatrix(jsonData: SharedFixtures.data("readme-example.json"))
        let ex = try ReadmeExample.load()
        #expect(weight.rows == ex.weight)
    }

    @Test func mappingDocumentCarriesTheReferenceShapes() throws {
        let ex = try ReadmeExample.load()
        let weight = try ExpertLoadMatrix(rows: ex.weight)
        let placement = try ExpertLoadBalancer(
            RebalanceConfiguration(numReplicas: 16, numGroups: 4, numNodes: 2, numGPUs: 8)
        ).rebalance(weight)
        let document = PlacementDocument(placement: placement, balancedness: Balancedness(weight: weight, placement: placement))
        let object = try #require(try JSONSerialization.jsonObject(with: document.jsonData()) as? [String: Any])
        for key in ["phy2log", "log2phy", "logcnt", "policy", "balancedness_before", "balancedness_after"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["policy"] as? String == "hierarchical")
        let decoded = try JSONDecoder().decode(PlacementDocument.self, from: document.jsonData())
        #expect(decoded == document)
        #expect(decoded.log2phy == ex.log2phy)
    }
}
