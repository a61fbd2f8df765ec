import EPLB
import Engine
import Foundation
import Hummingbird

extension OpenAIServer {
    /// `GET /v1/eplb/load`: the router's tokens per logical expert of each MoE layer over the
    /// recording window, as the `{"weight": [[…]]}` file `peregrine eplb --load` reads; 404 for a
    /// dense model.
    func expertLoad() throws(OpenAIError) -> Response {
        guard let stats = engine.stats.expertLoad else {
            throw OpenAIError(status: .notFound, message: "The served model has no experts, so there is no expert load.",
                              code: "not_moe_model")
        }
        let metadata: [(key: String, value: String)] = [
            ("model", configuration.servedModelName), ("num_physical_experts", String(stats.numPhysicalExperts)),
            ("num_ranks", String(stats.numRanks)), ("rebalances", String(stats.rebalances)),
        ]
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(data: stats.load.jsonData(metadata: metadata))))
    }

    /// `GET /v1/eplb/placement`: the placement in force (what the expert workers hold), as the
    /// mapping file `peregrine eplb --placement` reads, with its balancedness on the recorded load
    /// (`balancedness_before`: without replicas, `balancedness_after`: under the placement); 404
    /// for a dense model.
    func expertPlacement() throws(OpenAIError) -> Response {
        guard let stats = engine.stats.expertLoad else {
            throw OpenAIError(status: .notFound, message: "The served model has no experts, so there is no expert placement.",
                              code: "not_moe_model")
        }
        let r = stats.numPhysicalExperts, layers = stats.load.numLayers
        let configuration = RebalanceConfiguration(numReplicas: r, numGroups: stats.numGroups, numNodes: stats.numNodes, numGPUs: stats.numRanks)
        let rows = (0..<layers).map { Array(stats.placement[($0 * r)..<(($0 + 1) * r)]) }
        do {
            let placement = try ExpertPlacement(configuration: configuration, numExperts: stats.load.numExperts, phy2log: rows)
            let document = PlacementDocument(placement: placement, balancedness: Balancedness(weight: stats.load, placement: placement))
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(data: try document.jsonData())))
        } catch {
            throw OpenAIError(status: .internalServerError, message: "The placement in force is not a valid one: \(error)", type: "server_error")
        }
    }
}
