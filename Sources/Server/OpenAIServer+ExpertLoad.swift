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
}
