import Foundation
import Server
import Testing

/// Output constraints and tool fields through HTTP on the tiny model (its vocabulary has no
/// lowercase letters or braces, so these constraints keep to what it can spell; tool calls on the
/// real model are checked with the official client in `Scripts/structured_output_check.py`).
@Suite struct StructuredOutputServingTests {
    static func server() throws -> OpenAIServer { try TestServer.make() }

    static func content(_ json: [String: Any]) -> String? {
        (json.choices.first?["message"] as? [String: Any])?["content"] as? String
    }

    @Test func constraintsShapeChatAndCompletionOutputs() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let chat = #""messages": [{"role": "user", "content": "HI"}], "max_tokens": 30, "temperature": 0"#
            let choice = try await client.post("/v1/chat/completions", #"{\#(chat), "structured_outputs": {"choice": ["YES", "NO"]}}"#)
            #expect(choice.status == .ok)
            #expect(["YES", "NO"].contains(Self.content(choice.json) ?? ""), "\(choice.text)")
            let regex = try await client.post("/v1/chat/completions", #"{\#(chat), "guided_regex": "[A-Z]{3}-[0-9]{2}"}"#)
            #expect((Self.content(regex.json) ?? "").wholeMatch(of: /[A-Z]{3}-[0-9]{2}/) != nil, "\(regex.text)")
            let schema = #"{"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}, "minItems": 2, "maxItems": 3}"#
            let json = try await client.post("/v1/chat/completions",
                                             #"{\#(chat), "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": \#(schema), "strict": true}}}"#)
            let array = try JSONSerialization.jsonObject(with: Data((Self.content(json.json) ?? "").utf8)) as? [Int]
            #expect(array.map { (2...3).contains($0.count) && $0.allSatisfy { (1...9).contains($0) } } == true, "\(json.text)")
            let completion = try await client.post("/v1/completions",
                                                   #"{"prompt": "HI", "max_tokens": 20, "temperature": 0, "structured_outputs": {"grammar": "root ::= \"A\" [0-9]{1,3} \"Z\""}}"#)
            let text = (completion.json.choices.first?["text"] as? String) ?? ""
            #expect(text.wholeMatch(of: /A[0-9]{1,3}Z/) != nil, "\(completion.text)")
        }
    }

    @Test func streamedConstrainedOutputEqualsTheWholeOne() async throws {
        try await TestServer.withServer(try Self.server()) { client in
            let body = #""messages": [{"role": "user", "content": "HI"}], "max_tokens": 30, "temperature": 0, "structured_outputs": {"regex": "([A-Z]{1,3} ){2}[0-9]{1,2}"}"#
            let whole = try await client.post("/v1/chat/completions", "{\(body)}").json
            let r = try await client.post("/v1/chat/completions", #"{\#(body), "stream": true}"#)
            let streamed = r.events.flatMap(\.choices).compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
            #expect(streamed == Self.content(whole))
            #expect(streamed.wholeMatch(of: /([A-Z]{1,3} ){2}[0-9]{1,2}/) != nil, "\(streamed)")
        }
    }

    /// Every refusal is a 400 in OpenAI's shape naming the field; the engine is left idle.
    @Test(arguments: [
        (#""response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "not": {}}}}"#,
         "response_format.json_schema.schema", "'not'"),
        (#""response_format": {"type": "xml"}"#, "response_format.type", "xml"),
        (#""structured_outputs": {"regex": "(A", "choice": ["A"]}"#, "structured_outputs", "exactly one"),
        (#""structured_outputs": {"regex": "(?=A)B"}"#, "structured_outputs.regex", "lookahead"),
        (#""structured_outputs": {"grammar": "root ::= nothing"}"#, "structured_outputs.grammar", "nothing"),
        (#""guided_regex": "A", "guided_choice": ["B"]"#, "guided_choice", "Only one"),
        (#""tool_choice": "required""#, "tool_choice", "needs tools"),
        (#""tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}"#,
         "tool_choice", "'g'"),
        (#""tools": [{"type": "function", "function": {"name": "bad name"}}]"#, "tools[0].function.name", "bad name"),
        (#""tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "patternProperties": {}}}}], "tool_choice": "required""#,
         "tools", "patternProperties"),
        (#""tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required", "response_format": {"type": "json_object"}"#,
         "response_format", "cannot be combined"),
    ] as [(String, String, String)])
    func refusalsNameTheField(fields: String, param: String, word: String) async throws {
        let server = try Self.server()
        try await TestServer.withServer(server) { client in
            let r = try await client.post("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 4, \#(fields)}"#)
            #expect(r.status == .badRequest, "\(r.text)")
            let error = r.json["error"] as? [String: Any]
            #expect(error?["param"] as? String == param, "\(r.text)")
            #expect((error?["message"] as? String)?.contains(word) == true, "\(r.text)")
        }
        #expect(await TestServer.waitUntilIdle(server).kvCacheUsage == 0)
    }
}
