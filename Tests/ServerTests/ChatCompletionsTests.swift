import Foundation
import Server
import Testing

/// `POST /v1/chat/completions` with a chat template the tiny vocabulary can spell.
@Suite struct ChatCompletionsTests {
    static let template = TestServer.chatTemplate

    static func server() throws -> OpenAIServer {
        try TestServer.make(TestServer.configuration { $0.chatTemplate = template })
    }

    static let messages = #"[{"role": "system", "content": "BE BRIEF"}, {"role": "user", "content": [{"type": "text", "text": "HI"}, {"type": "text", "text": "THERE"}]}]"#

    @Test func chatCompletionHasOpenAIShape() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let r = try await client.post("/v1/chat/completions",
                                          #"{"model": "tiny", "messages": \#(Self.messages), "max_completion_tokens": 6, "temperature": 0, "ignore_eos": true}"#)
            #expect(r.status == .ok)
            let json = r.json
            #expect(json["object"] as? String == "chat.completion")
            #expect((json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            let choice = try #require(json.choices.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(message["content"] is String)
            #expect(choice["finish_reason"] as? String == "length")
            #expect(json.usage["completion_tokens"] == 6)
            let tokenized = try await client.post("/tokenize", #"{"messages": \#(Self.messages)}"#)
            #expect((tokenized.json["count"] as? Int).map { $0 > 20 } == true)
            #expect(json.usage["prompt_tokens"] == tokenized.json["count"] as? Int)
        }
    }

    @Test func streamingStartsWithTheRoleAndMatchesNonStreaming() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let body = #""messages": [{"role": "user", "content": "HI"}], "max_tokens": 8, "temperature": 0, "ignore_eos": true"#
            let whole = try await client.post("/v1/chat/completions", "{\(body)}").json
            let r = try await client.post("/v1/chat/completions", #"{\#(body), "stream": true, "stream_options": {"include_usage": true}}"#)
            #expect(r.endsWithDone)
            let events = r.events
            #expect(events.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            let first = try #require(events.first?.choices.first?["delta"] as? [String: Any])
            #expect(first["role"] as? String == "assistant")
            let deltas = events.flatMap(\.choices).compactMap { $0["delta"] as? [String: Any] }
            let content = deltas.compactMap { $0["content"] as? String }.joined()
            #expect(content == (whole.choices.first?["message"] as? [String: Any])?["content"] as? String)
            #expect(events.dropLast().last?.choices.first?["finish_reason"] as? String == "length")
            #expect(events.last?.choices.isEmpty == true)
            #expect(events.last?.usage["completion_tokens"] == 8)
        }
    }

    @Test func logprobsHaveTheChatShape() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let r = try await client.post("/v1/chat/completions",
                                          #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 4, "logprobs": true, "top_logprobs": 2, "ignore_eos": true}"#)
            let logprobs = try #require(r.json.choices.first?["logprobs"] as? [String: Any])
            let content = try #require(logprobs["content"] as? [[String: Any]])
            #expect(content.count == 4)
            for entry in content {
                #expect(entry["token"] is String)
                #expect((entry["logprob"] as? Double).map { $0 <= 0 } == true)
                #expect(entry["bytes"] is [Int])
                #expect((entry["top_logprobs"] as? [[String: Any]])?.count == 2)
            }
        }
    }

    @Test func nCompletionsStreamAsSeparateChoices() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let r = try await client.post("/v1/chat/completions",
                                          #"{"messages": [{"role": "user", "content": "HI"}], "n": 3, "max_tokens": 3, "stream": true, "ignore_eos": true}"#)
            let choices = r.events.flatMap(\.choices)
            #expect(Set(choices.compactMap { $0["index"] as? Int }) == [0, 1, 2])
            #expect(choices.filter { $0["finish_reason"] as? String == "length" }.count == 3)
        }
    }

    /// A base model (no template) refuses chat with a clear 400, and still completes plain text;
    /// a template given at start-up makes chat work.
    @Test func modelsWithoutTemplateRefuseChat() async throws {
        try await TestServer.withServer(try TestServer.make(TestServer.configuration { $0.chatTemplate = nil })) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 2}"#)
            #expect(r.status == .badRequest)
            #expect(r.error.message?.contains("no chat template") == true)
            let plain = try await client.post("/v1/completions", #"{"prompt": "HI", "max_tokens": 2}"#)
            #expect(plain.status == .ok)
        }
        let given = "{% for m in messages %}{{ m.content }}{% endfor %}"
        try await TestServer.withServer(try TestServer.make(TestServer.configuration { $0.chatTemplate = given })) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 2}"#)
            #expect(r.status == .ok)
        }
    }

    @Test func templateThatRaisesIsA400() async throws {
        let refusing = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}X"
        try await TestServer.withServer(try TestServer.make(TestServer.configuration { $0.chatTemplate = refusing })) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages": [{"role": "system", "content": "S"}]}"#)
            #expect(r.status == .badRequest)
            #expect(r.error.message == "System role not supported")
        }
    }

    @Test func unsupportedTemplateFailsAtLoad() {
        #expect(throws: (any Error).self) {
            try TestServer.make(TestServer.configuration { $0.chatTemplate = "{% include 'other.jinja' %}" })
        }
    }
}
