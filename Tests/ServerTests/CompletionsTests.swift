import Foundation
import Server
import Testing

/// `POST /v1/completions`: OpenAI's shapes, streaming and not, n, several prompts, token-id
/// prompts, echo, logprobs, stop strings, usage.
@Suite struct CompletionsTests {
    @Test func greedyCompletionHasOpenAIShapeAndUsage() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.post("/v1/completions", #"{"model": "tiny", "prompt": "HELLO", "max_tokens": 12, "temperature": 0, "ignore_eos": true}"#)
            #expect(r.status == .ok)
            let json = r.json
            #expect(json["object"] as? String == "text_completion")
            #expect((json["id"] as? String)?.hasPrefix("cmpl-") == true)
            #expect(json["model"] as? String == "tiny")
            #expect(json["created"] is Int)
            let choice = try #require(json.choices.first)
            #expect(choice["index"] as? Int == 0)
            #expect(choice["finish_reason"] as? String == "length")
            #expect(choice["logprobs"] is NSNull)
            #expect(!(choice["text"] as? String ?? "").isEmpty)
            #expect(json.usage["prompt_tokens"] == 5)
            #expect(json.usage["completion_tokens"] == 12)
            #expect(json.usage["total_tokens"] == 17)
        }
    }

    @Test func streamingEqualsNonStreamingAndEndsWithUsage() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let body = #""prompt": "ABC", "max_tokens": 10, "temperature": 0, "ignore_eos": true"#
            let whole = try await client.post("/v1/completions", "{\(body)}").json
            let r = try await client.post("/v1/completions", #"{\#(body), "stream": true, "stream_options": {"include_usage": true}}"#)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/event-stream")
            #expect(r.endsWithDone)
            let events = r.events
            let last = try #require(events.last)
            #expect(last.choices.isEmpty)
            #expect(last.usage["completion_tokens"] == 10)
            #expect(last.usage["prompt_tokens"] == 3)
            let chunks = events.dropLast()
            #expect(chunks.allSatisfy { $0["usage"] is NSNull && $0["object"] as? String == "text_completion" })
            let text = chunks.flatMap(\.choices).compactMap { $0["text"] as? String }.joined()
            #expect(text == whole.choices.first?["text"] as? String)
            #expect(chunks.last?.choices.first?["finish_reason"] as? String == "length")
        }
    }

    @Test func severalPromptsAndNGiveIndexedChoices() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.post("/v1/completions",
                                          #"{"prompt": ["AB", "CDE"], "n": 2, "max_tokens": 4, "seed": 7, "ignore_eos": true}"#)
            #expect(r.status == .ok)
            let choices = r.json.choices
            #expect(choices.compactMap { $0["index"] as? Int }.sorted() == [0, 1, 2, 3])
            #expect(r.json.usage["prompt_tokens"] == 5)
            #expect(r.json.usage["completion_tokens"] == 16)
            let tokens = try await client.post("/v1/completions", #"{"prompt": [[10, 11, 12], [13]], "max_tokens": 3, "ignore_eos": true}"#)
            #expect(tokens.json.choices.count == 2)
            #expect(tokens.json.usage["prompt_tokens"] == 4)
            let single = try await client.post("/v1/completions", #"{"prompt": [10, 11, 12], "max_tokens": 3, "ignore_eos": true}"#)
            #expect(single.json.choices.count == 1)
        }
    }

    @Test func seededSamplingIsReproducible() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let body = #"{"prompt": "XYZ", "max_tokens": 16, "temperature": 1.0, "top_p": 0.9, "seed": 1234, "ignore_eos": true}"#
            let a = try await client.post("/v1/completions", body).json.choices.first?["text"] as? String
            let b = try await client.post("/v1/completions", body).json.choices.first?["text"] as? String
            #expect(a != nil && a == b)
        }
    }

    @Test func stopStringEndsTheTextBeforeIt() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let body = #""prompt": "HELLO", "max_tokens": 24, "temperature": 0, "ignore_eos": true"#
            let full = try #require(try await client.post("/v1/completions", "{\(body)}").json.choices.first?["text"] as? String)
            let characters = Array(full)
            try #require(characters.count >= 6, "\(full)")
            let middle = characters.count / 2
            let stop = String(characters[middle..<(middle + 2)])
            let expected = String(full[..<full.range(of: stop)!.lowerBound])
            let escaped = stop.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            for stream in [false, true] {
                let r = try await client.post("/v1/completions", #"{\#(body), "stop": ["\#(escaped)"], "stream": \#(stream)}"#)
                let choices = stream ? r.events.flatMap(\.choices) : r.json.choices
                #expect(choices.compactMap { $0["text"] as? String }.joined() == expected)
                #expect(choices.last?["finish_reason"] as? String == "stop")
                #expect(choices.last?["stop_reason"] as? String == stop)
            }
        }
    }

    @Test func logprobsAndEchoHaveTheLegacyShape() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.post("/v1/completions", #"{"prompt": "HEY", "max_tokens": 5, "logprobs": 3, "ignore_eos": true, "temperature": 0}"#)
            let logprobs = try #require(r.json.choices.first?["logprobs"] as? [String: Any])
            let tokens = try #require(logprobs["tokens"] as? [String])
            let values = try #require(logprobs["token_logprobs"] as? [Double])
            let tops = try #require(logprobs["top_logprobs"] as? [[String: Double]])
            let offsets = try #require(logprobs["text_offset"] as? [Int])
            #expect(tokens.count == 5 && values.count == 5 && tops.count == 5 && offsets.count == 5)
            #expect(values.allSatisfy { $0 <= 0 })
            #expect(tops.allSatisfy { (3...4).contains($0.count) })
            #expect(tokens.joined() == r.json.choices.first?["text"] as? String)

            let echo = try await client.post("/v1/completions", #"{"prompt": "HEY", "max_tokens": 2, "echo": true, "logprobs": 1, "ignore_eos": true}"#)
            let choice = try #require(echo.json.choices.first)
            #expect((choice["text"] as? String)?.hasPrefix("HEY") == true)
            let echoed = try #require(choice["logprobs"] as? [String: Any])
            let echoValues = try #require(echoed["token_logprobs"] as? [Any])
            #expect(echoValues.count == 5)
            #expect(echoValues.first is NSNull)
            #expect((echoed["tokens"] as? [String])?.prefix(3).joined() == "HEY")
            #expect(echo.json.usage["prompt_tokens"] == 3 && echo.json.usage["completion_tokens"] == 2)

            let streamed = try await client.post("/v1/completions", #"{"prompt": "HEY", "max_tokens": 2, "echo": true, "stream": true, "ignore_eos": true}"#)
            #expect((streamed.events.first?.choices.first?["text"] as? String)?.hasPrefix("HEY") == true)
        }
    }

    @Test func unknownFieldsAreIgnored() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let r = try await client.post("/v1/completions",
                                          #"{"prompt": "A", "max_tokens": 2, "user": "u1", "frobnicate": {"x": [1]}, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1, "presence_penalty": 0.5, "frequency_penalty": 0.5, "logit_bias": {"5": 10}, "min_tokens": 1, "best_of": 1}"#)
            #expect(r.status == .ok)
        }
    }
}
