import Engine
import Foundation
import SpecDecode
import Testing

/// `serve` with speculation: answers, streamed or not, equal those without it, and `/metrics`
/// shows vLLM's spec_decode counters.
@Suite struct SpeculativeServingTests {
    @Test func answersMatchAndMetricsCountDrafts() async throws {
        let body = #""prompt": "ABCDABCDABCDABCDABCD", "max_tokens": 24, "temperature": 0, "ignore_eos": true"#
        let plain = try await TestServer.withServer(try TestServer.make()) { client in
            try await client.post("/v1/completions", "{\(body)}").json.choices.first?["text"] as? String
        }
        var spec = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 4)
        spec.adaptive = false
        spec.promptLookupMin = 1
        try await TestServer.withServer(try TestServer.make(speculative: spec)) { client in
            let whole = try await client.post("/v1/completions", "{\(body)}").json
            #expect(whole.choices.first?["text"] as? String == plain)
            let streamed = try await client.post("/v1/completions", #"{\#(body), "stream": true}"#)
            let text = streamed.events.flatMap(\.choices).compactMap { $0["text"] as? String }.joined()
            #expect(text == plain)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            func value(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix("peregrine:" + name) }.flatMap { Double($0.split(separator: " ").last!) }
            }
            #expect((value("spec_decode_num_draft_tokens_total") ?? 0) > 0, "\(metrics)")
            #expect((value("spec_decode_num_accepted_tokens_total") ?? 0) > 0)
            #expect((value("spec_decode_num_drafts_total") ?? 0) > 0)
            #expect(value("spec_decode_draft_acceptance_rate").map { $0 > 0 && $0 <= 1 } == true)
            #expect(metrics.contains("peregrine:spec_decode_num_accepted_tokens_per_pos_total{") && metrics.contains("position=\"0\""))
        }
    }
}
