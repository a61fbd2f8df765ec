import EPLB
import Engine
import Foundation
import GGUF
import HummingbirdTesting
import TestSupport
import Testing

/// `GET /v1/eplb/load` and the EPLB metrics on a tiny MoE model (8 experts, top 2, 2 layers).
@Suite struct ExpertLoadTests {
    static let moeFile = try! GGUFFile(bytes: TinyModel(architecture: "qwen3moe", seed: 31).withExperts(8, used: 2).write())

    @Test func loadEndpointServesTheRecordedMatrix() async throws {
        let eplb = EPLBConfig(windowSize: 1000, stepInterval: 4, numRedundantExperts: 4, numRanks: 4)
        let server = try TestServer.make(file: Self.moeFile, eplb: eplb)
        try await TestServer.withServer(server) { client in
            let r = try await client.post("/v1/completions", #"{"prompt": "ABCDEFGH", "max_tokens": 6, "ignore_eos": true}"#)
            #expect(r.status == .ok)
            let load = try await client.execute(uri: "/v1/eplb/load", method: .get)
            #expect(load.status == .ok)
            let matrix = try ExpertLoadMatrix(jsonData: Data(load.text.utf8))
            #expect(matrix.numLayers == 2 && matrix.numExperts == 8)
            // 8 prompt tokens and 5 decoded ones (the last sampled token is not run), 2 experts each, per layer.
            for layer in 0..<2 { #expect(matrix.row(layer).reduce(0, +) == 26) }
            #expect(load.text.contains("\"num_physical_experts\": \"12\""))
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            #expect(metrics.contains("peregrine:eplb_balancedness{") && metrics.contains("layer=\"1\""))
            let rebalances = metrics.split(separator: "\n").first { $0.hasPrefix("peregrine:eplb_rebalances_total") }
            #expect(rebalances.map { Double($0.split(separator: " ").last!)! > 0 } == true, "\(metrics)")
        }
    }

    /// `GET /v1/eplb/placement`: the placement in force as a mapping file that `ExpertPlacement`
    /// (and `peregrine eplb --placement`) reads back, with its balancedness on the recorded load
    /// and the rebalance's before/expected figures in /metrics.
    @Test func placementEndpointServesThePlacementInForce() async throws {
        let eplb = EPLBConfig(windowSize: 1000, stepInterval: 4, numRedundantExperts: 4, numRanks: 4, numNodes: 2, numGroups: 2)
        let server = try TestServer.make(file: Self.moeFile, eplb: eplb)
        try await TestServer.withServer(server) { client in
            let r = try await client.post("/v1/completions", #"{"prompt": "ABCDEFGH", "max_tokens": 6, "ignore_eos": true}"#)
            #expect(r.status == .ok)
            let response = try await client.execute(uri: "/v1/eplb/placement", method: .get)
            #expect(response.status == .ok)
            let placement = try ExpertPlacement(mappingJSON: Data(response.text.utf8))
            #expect(placement.numLayers == 2 && placement.numExperts == 8 && placement.configuration.numReplicas == 12)
            #expect(placement.configuration.numGPUs == 4 && placement.configuration.numNodes == 2 && placement.policy == .hierarchical)
            let document = try JSONDecoder().decode(PlacementDocument.self, from: Data(response.text.utf8))
            #expect(document.balancednessAfter > 0 && document.balancednessAfter <= 1)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            #expect(metrics.contains("peregrine:eplb_balancedness_before_last_rebalance{"))
            #expect(metrics.contains("peregrine:eplb_expected_balancedness_last_rebalance{"))
        }
    }

    @Test func denseModelHasNoLoad() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.execute(uri: "/v1/eplb/load", method: .get)
            #expect(r.status == .notFound)
            #expect(r.error.code == "not_moe_model")
        }
    }

    @Test func loadNeedsTheAPIKey() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.apiKey = "secret" }, file: Self.moeFile)
        try await TestServer.withServer(server) { client in
            #expect(try await client.execute(uri: "/v1/eplb/load", method: .get).status == .unauthorized)
            let r = try await client.execute(uri: "/v1/eplb/load", method: .get, headers: [.authorization: "Bearer secret"])
            #expect(r.status == .ok)
        }
    }
}
