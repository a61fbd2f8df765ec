import Foundation
import Server
import Testing

/// `/health`, `/v1/models`, `/tokenize`, `/detokenize`, `/metrics`, and the 404 of unknown routes.
@Suite struct EndpointTests {
    @Test func healthAndModels() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            let models = try await client.execute(uri: "/v1/models", method: .get).json
            #expect(models["object"] as? String == "list")
            let model = try #require((models["data"] as? [[String: Any]])?.first)
            #expect(model["id"] as? String == "tiny")
            #expect(model["object"] as? String == "model")
            #expect(model["max_model_len"] as? Int == 256)
        }
    }

    @Test func tokenizeAndDetokenizeRoundTrip() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.post("/tokenize", #"{"prompt": "HELLO WORLD", "return_token_strs": true}"#)
            #expect(r.status == .ok)
            let tokens = try #require(r.json["tokens"] as? [Int])
            #expect(r.json["count"] as? Int == tokens.count)
            #expect((r.json["token_strs"] as? [String])?.joined() == "HELLO WORLD")
            #expect(r.json["max_model_len"] as? Int == 256)
            let back = try await client.post("/detokenize", #"{"tokens": \#(tokens)}"#)
            #expect(back.json["prompt"] as? String == "HELLO WORLD")
            let bad = try await client.post("/detokenize", #"{"tokens": [1, 9999]}"#)
            #expect(bad.status == .badRequest && bad.error.param == "tokens")
        }
    }

    @Test func metricsAreNamedAsVLLMNamesThem() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            _ = try await client.post("/v1/completions", #"{"prompt": "ABCDEFGH", "max_tokens": 5, "ignore_eos": true}"#)
            _ = try await client.post("/v1/completions", #"{"prompt": "ABCDEFGH", "max_tokens": 5, "ignore_eos": true}"#)
            let r = try await client.execute(uri: "/metrics", method: .get)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/plain") == true)
            let lines = r.text.split(separator: "\n").map(String.init)
            func value(_ name: String) -> Double? {
                lines.first { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
            }
            #expect(value("peregrine:num_requests_running") == 0)
            #expect(value("peregrine:num_requests_waiting") == 0)
            #expect(value("peregrine:kv_cache_usage_perc") == 0)
            #expect(value("peregrine:prompt_tokens_total") == 16)  // both prompts whole: vLLM counts the cached block too
            #expect(value("peregrine:generation_tokens_total") == 10)
            #expect(value("peregrine:prefix_cache_queries_total") == 16)
            #expect(value("peregrine:prefix_cache_hits_total") == 4)
            #expect(value("peregrine:num_preemptions_total") == 0)
            #expect(lines.contains { $0.hasPrefix("peregrine:request_success_total{") && $0.contains("finished_reason=\"length\"") && $0.hasSuffix(" 2") })
            for histogram in ["time_to_first_token_seconds", "inter_token_latency_seconds", "e2e_request_latency_seconds"] {
                #expect(value("peregrine:\(histogram)_count") == (histogram == "inter_token_latency_seconds" ? 8 : 2), "\(histogram)")
                #expect(lines.contains { $0.hasPrefix("peregrine:\(histogram)_bucket{") && $0.contains("le=\"+Inf\"") })
            }
            #expect(lines.contains { $0.hasPrefix("# HELP peregrine:time_to_first_token_seconds") })
        }
    }

    @Test func unknownRoutesAndMethodsAreOpenAIErrors() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.execute(uri: "/v1/engines", method: .get)
            #expect(r.status == .notFound)
            #expect(r.error.message != nil && r.error.type == "invalid_request_error")
        }
    }

    /// The chat page is one self-contained document: no script, style or font from elsewhere.
    @Test func chatPageIsSelfContained() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.execute(uri: "/", method: .get)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(r.text.contains("id=\"messages\"") && r.text.contains("/v1/chat/completions"))
            #expect(!r.text.contains("http://") && !r.text.contains("https://") && !r.text.contains("innerHTML"))
        }
    }
}
