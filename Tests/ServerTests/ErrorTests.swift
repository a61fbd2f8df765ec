import Foundation
import HummingbirdTesting
import Server
import Testing
import Tokenization

/// Every invalid request gets OpenAI's error object with the right status and the field at fault.
@Suite struct ErrorTests {
    struct Case: Sendable, CustomStringConvertible {
        var path = "/v1/completions"
        var body: String
        var status: Int = 400
        var param: String?
        var code: String?
        var description: String { body }
    }

    static let cases: [Case] = [
        Case(body: "{not json", param: nil),
        Case(body: "[1, 2]", param: nil),
        Case(body: #"{"max_tokens": 3}"#, param: "prompt"),
        Case(body: #"{"prompt": 5}"#, param: "prompt"),
        Case(body: #"{"prompt": "A", "temperature": "hot"}"#, param: "temperature"),
        Case(body: #"{"prompt": "A", "max_tokens": 2.5}"#, param: "max_tokens"),
        Case(body: #"{"prompt": "A", "stream": "yes"}"#, param: "stream"),
        Case(body: #"{"prompt": "A", "stop": 7}"#, param: "stop"),
        Case(body: #"{"prompt": "A", "top_p": 2}"#, param: "top_p"),
        Case(body: #"{"prompt": "A", "temperature": -1}"#, param: "temperature"),
        Case(body: #"{"prompt": "A", "presence_penalty": 3}"#, param: "presence_penalty"),
        Case(body: #"{"prompt": "A", "max_tokens": 0}"#, param: "max_tokens"),
        Case(body: #"{"prompt": "A", "n": 17}"#, param: "n"),
        Case(body: #"{"prompt": "A", "n": 0}"#, param: "n"),
        Case(body: #"{"prompt": "A", "logprobs": 21}"#, param: "logprobs"),
        Case(body: #"{"prompt": "A", "logit_bias": {"x": 1}}"#, param: "logit_bias"),
        Case(body: #"{"prompt": "A", "logit_bias": {"1": 500}}"#, param: "logit_bias"),
        Case(body: #"{"prompt": "A", "logit_bias": {"100000": 1}}"#, param: "logit_bias"),
        Case(body: #"{"prompt": "A", "stop": [""]}"#, param: "stop"),
        Case(body: #"{"prompt": "A", "best_of": 3}"#, param: "best_of"),
        Case(body: #"{"prompt": ""}"#, param: "prompt"),
        Case(body: #"{"prompt": []}"#, param: "prompt"),
        Case(body: #"{"prompt": [1, 99999]}"#, param: "prompt"),
        Case(body: #"{"prompt": "A", "max_tokens": 300}"#, param: "max_tokens", code: "context_length_exceeded"),
        Case(body: #"{"prompt": "\#(String(repeating: "A", count: 300))"}"#, param: "prompt", code: "context_length_exceeded"),
        Case(body: #"{"model": "gpt-4", "prompt": "A"}"#, status: 404, param: "model", code: "model_not_found"),
        Case(path: "/v1/chat/completions", body: #"{"messages": []}"#, param: "messages"),
        Case(path: "/v1/chat/completions", body: #"{"model": "tiny"}"#, param: "messages"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "wizard", "content": "A"}]}"#, param: "messages[0].role"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"content": "A"}]}"#, param: "messages[0].role"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": 3}]}"#, param: "messages[0].content"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#,
             param: "messages[0].content"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": "A"}], "top_logprobs": 2}"#, param: "top_logprobs"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": "A"}], "logprobs": true, "top_logprobs": 30}"#,
             param: "top_logprobs"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": "A"}], "max_completion_tokens": 1000}"#,
             param: "max_completion_tokens", code: "context_length_exceeded"),
        Case(path: "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": "A"}], "tools": [{"type": "function"}]}"#,
             param: "tools[0].function"),
        Case(path: "/tokenize", body: #"{"add_special_tokens": true}"#, param: "prompt"),
    ]

    @Test func invalidRequestsGetOpenAIErrors() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            for c in Self.cases {
                let r = try await client.post(c.path, c.body)
                #expect(Int(r.status.code) == c.status, "\(c.body)")
                #expect(r.headers[.contentType] == "application/json", "\(c.body)")
                let error = try #require(r.json["error"] as? [String: Any], "\(c.body): \(r.text)")
                #expect((error["message"] as? String).map { !$0.isEmpty } == true, "\(c.body)")
                #expect(error["type"] as? String == "invalid_request_error", "\(c.body)")
                #expect(error.keys.sorted() == ["code", "message", "param", "type"], "\(c.body)")
                #expect(r.error.param == c.param, "\(c.body): \(r.text)")
                if let code = c.code { #expect(r.error.code == code, "\(c.body)") }
            }
        }
    }

    @Test func bodyTooLargeIs413() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.maxRequestBodySize = 1000 })
        try await TestServer.withServer(server) { client in
            let r = try await client.post("/v1/completions", #"{"prompt": "\#(String(repeating: "A", count: 2000))"}"#)
            #expect(r.status == .contentTooLarge)
            #expect(r.error.code == "request_too_large")
        }
    }

    @Test func apiKeyGuardsTheV1Routes() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.apiKey = "sk-test-123" })
        try await TestServer.withServer(server) { client in
            let body = #"{"prompt": "A", "max_tokens": 1}"#
            let missing = try await client.post("/v1/completions", body)
            #expect(missing.status == .unauthorized)
            #expect(missing.error.code == "invalid_api_key")
            for wrong in ["Bearer sk-test-124", "Bearer sk-test-12", "Bearer sk-test-1234", "sk-test-123", "Basic sk-test-123", "Bearer "] {
                let r = try await client.post("/v1/completions", body, headers: [.authorization: wrong])
                #expect(r.status == .unauthorized, "\(wrong)")
            }
            let models = try await client.execute(uri: "/v1/models", method: .get)
            #expect(models.status == .unauthorized)
            let ok = try await client.post("/v1/completions", body, headers: [.authorization: "Bearer sk-test-123"])
            #expect(ok.status == .ok)
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
    }

    /// A hostile chat template: one that never ends is refused when the server is built (it is
    /// rendered once at load); one that blows up only on longer messages answers those with a 400,
    /// and the server goes on serving.
    @Test func hostileChatTemplatesAreBounded() async throws {
        let forever = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
        #expect {
            _ = try TestServer.make(TestServer.configuration { $0.chatTemplate = forever })
        } throws: { error in
            guard case ChatTemplateError.limitExceeded = error else { return false }
            return true
        }
        let growing = "{% for m in messages %}{{ m.content * 1000000 }}{% endfor %}ASSISTANT:"
        try await TestServer.withServer(try TestServer.make(TestServer.configuration { $0.chatTemplate = growing })) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "0123456789"}], "max_tokens": 2}"#)
            #expect(r.status == .badRequest)
            #expect(r.error.param == "messages" && r.error.message?.contains("past its limit") == true)
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
    }
}
