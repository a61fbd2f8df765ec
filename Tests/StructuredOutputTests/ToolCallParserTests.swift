import Foundation
import Testing
@testable import StructuredOutput

@Suite struct ToolCallParserTests {
    static let hermes = HermesToolCallParser()
    static let llama = Llama3JSONToolCallParser()
    static let mistral = MistralToolCallParser()

    func call(_ name: String, _ arguments: String) -> ParsedToolCall { ParsedToolCall(name: name, arguments: arguments) }

    // MARK: - Registry

    @Test func registryKnowsAllNames() throws {
        #expect(ToolCallParsers.names == ["hermes", "qwen", "llama3_json", "mistral"])
        for name in ToolCallParsers.names {
            #expect(type(of: try ToolCallParsers.parser(named: name)).name == name)
        }
        #expect(try ToolCallParsers.parser(named: "qwen") is QwenToolCallParser)
    }

    @Test func unknownParserNamesTheKnownOnes() {
        #expect(throws: ToolCallParserError.unknownParser("pythonic", known: ["hermes", "qwen", "llama3_json", "mistral"])) {
            _ = try ToolCallParsers.parser(named: "pythonic")
        }
        do {
            _ = try ToolCallParsers.parser(named: "nope")
            Issue.record("no error")
        } catch {
            #expect(error.description.contains("nope") && error.description.contains("llama3_json"))
        }
    }

    // MARK: - Hermes / Qwen

    @Test func hermesPlainText() {
        let r = Self.hermes.parse("The weather is sunny. 1 < 2 and <tool is not a call.")
        #expect(r == ToolCallParseResult(content: "The weather is sunny. 1 < 2 and <tool is not a call.", toolCalls: []))
        #expect(Self.hermes.parse("  \n") == ToolCallParseResult(content: nil, toolCalls: []))
        #expect(Self.hermes.parse("") == ToolCallParseResult(content: nil, toolCalls: []))
    }

    @Test func hermesOneCall() {
        let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>"
        #expect(Self.hermes.parse(text) == ToolCallParseResult(content: nil, toolCalls: [call("get_weather", #"{"city":"Paris","unit":"celsius"}"#)]))
        #expect(QwenToolCallParser().parse(text) == Self.hermes.parse(text))
    }

    @Test func hermesSeveralCallsWithContentBefore() {
        let text = """
            Let me check both cities.
            <tool_call>
            {"name": "get_weather", "arguments": {"city": "Paris"}}
            </tool_call>
            <tool_call>
            {"arguments": {"city": "Tokyo", "days": 3}, "name": "get_forecast"}
            </tool_call>
            """
        let r = Self.hermes.parse(text)
        #expect(r.content == "Let me check both cities.\n\n")  // the newlines between blocks count as content
        #expect(r.toolCalls == [call("get_weather", #"{"city":"Paris"}"#), call("get_forecast", #"{"city":"Tokyo","days":3}"#)])
    }

    @Test func hermesNestedArgumentsKeepOrderEscapesAndLiterals() {
        let text = #"<tool_call>{"name": "f", "arguments": {"z": 1, "a": [true, false, null, 1.5e-3, -0, {"k": "v"}], "q": "say \"hi\" \\ \u00e9 日本 🙂", "nested": {"b": {"c": []}}, "one": 1, "yes": true}}</tool_call>"#
        let r = Self.hermes.parse(text)
        #expect(r.content == nil)
        let expected = #"{"z":1,"a":[true,false,null,1.5e-3,-0,{"k":"v"}],"q":"say \"hi\" \\ \u00e9 日本 🙂","nested":{"b":{"c":[]}},"one":1,"yes":true}"#
        #expect(r.toolCalls == [call("f", expected)])
        // The text is valid JSON that round-trips through Foundation, booleans staying booleans.
        let object = try? JSONSerialization.jsonObject(with: Data(r.toolCalls[0].arguments.utf8)) as? [String: Any]
        #expect(object?["q"] as? String == "say \"hi\" \\ é 日本 🙂")
        #expect(r.toolCalls[0].arguments.contains(#""one":1"#) && r.toolCalls[0].arguments.contains(#""yes":true"#))
    }

    @Test func hermesNameEscapesAndMissingArguments() {
        let r = Self.hermes.parse(#"<tool_call>{"name": "a\u0062c", "id": 7}</tool_call>"#)
        #expect(r.toolCalls == [call("abc", "{}")])
        // Raw newlines inside strings (invalid JSON, common in model output) are escaped.
        let raw = Self.hermes.parse("<tool_call>{\"name\": \"w\", \"arguments\": {\"code\": \"a\nb\"}}</tool_call>")
        #expect(raw.toolCalls == [call("w", #"{"code":"a\nb"}"#)])
    }

    @Test func hermesUnclosedCallAtEndIsAccepted() {
        let r = Self.hermes.parse("Sure. <tool_call>{\"name\": \"f\", \"arguments\": {}}")
        #expect(r == ToolCallParseResult(content: "Sure. ", toolCalls: [call("f", "{}")]))
    }

    @Test(arguments: [
        "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": }}</tool_call>",
        "Hi <tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}</tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>",
        "<tool_call>{}</tool_call>",
        "<tool_call>not json</tool_call>",
        "<tool_call>{\"name\": 3}</tool_call>",
        "text <tool_call>{\"name\": \"f\"} trailing</tool_call>",
        "<tool_call>",
        "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}",
    ])
    func hermesMalformedIsContent(text: String) {
        #expect(Self.hermes.parse(text) == ToolCallParseResult(content: text, toolCalls: []))
    }

    // MARK: - Llama 3 JSON

    @Test func llamaPlainText() {
        for text in ["The answer is {42}.", "Hello", "<b>bold</b> {\"name\": \"f\"}", "<|python"] {
            #expect(Self.llama.parse(text) == ToolCallParseResult(content: text, toolCalls: []))
        }
    }

    @Test func llamaOneCall() {
        let expected = [call("get_weather", #"{"city":"Paris"}"#)]
        #expect(Self.llama.parse(#"{"name": "get_weather", "parameters": {"city": "Paris"}}"#).toolCalls == expected)
        #expect(Self.llama.parse("<|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}") == ToolCallParseResult(content: nil, toolCalls: expected))
        #expect(Self.llama.parse("\n  {\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n").toolCalls == expected)
    }

    @Test func llamaSeveralCalls() {
        let text = #"<|python_tag|>{"name": "a", "parameters": {"x": [1, 2]}}; {"name": "b", "parameters": {"y": {"z": "\"q\""}}};{"name": "c", "parameters": {}}"#
        #expect(Self.llama.parse(text) == ToolCallParseResult(content: nil, toolCalls: [
            call("a", #"{"x":[1,2]}"#), call("b", #"{"y":{"z":"\"q\""}}"#), call("c", "{}"),
        ]))
    }

    @Test(arguments: [
        #"{"name": "f", "parameters": {"a": 1}"#,
        #"{"answer": 42}"#,
        "{}",
        #"{"name": "f", "parameters": {}} and then some text"#,
        #"<|python_tag|>brave_search.call(query="x")"#,
        "<|python_tag|>",
        #"{"name": "f", "parameters": {"a": tru}}"#,
    ])
    func llamaMalformedIsContent(text: String) {
        #expect(Self.llama.parse(text) == ToolCallParseResult(content: text, toolCalls: []))
    }

    // MARK: - Mistral

    @Test func mistralPlainText() {
        let text = "Use [TOOL] or [TOOL_CALL without closing; arrays like [1, 2] are fine."
        #expect(Self.mistral.parse(text) == ToolCallParseResult(content: text, toolCalls: []))
    }

    @Test func mistralOneAndSeveralCalls() {
        #expect(Self.mistral.parse(#"[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]"#)
            == ToolCallParseResult(content: nil, toolCalls: [call("get_weather", #"{"city":"Paris"}"#)]))
        let text = #"I'll look these up.[TOOL_CALLS] [{"name": "a", "arguments": {"x": "ü\n"}}, {"name": "b", "arguments": "{\"y\": [1, {\"z\": null}]}"}]"#
        #expect(Self.mistral.parse(text) == ToolCallParseResult(content: "I'll look these up.", toolCalls: [
            call("a", #"{"x":"ü\n"}"#), call("b", #"{"y":[1,{"z":null}]}"#),
        ]))
    }

    @Test func mistralNewerNameArgsForm() {
        let text = #"Checking.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{}"#
        #expect(Self.mistral.parse(text) == ToolCallParseResult(content: "Checking.", toolCalls: [
            call("get_weather", #"{"city":"Paris"}"#), call("get_time", "{}"),
        ]))
    }

    @Test func mistralStringArgumentsThatAreNotJSONStayAString() {
        let r = Self.mistral.parse(#"[TOOL_CALLS][{"name": "say", "arguments": "hello"}]"#)
        #expect(r.toolCalls == [call("say", #""hello""#)])
    }

    @Test(arguments: [
        #"[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}"#,
        #"Text [TOOL_CALLS][{"name": "f", "arguments": {"a": }}]"#,
        #"[TOOL_CALLS]not json"#,
        #"[TOOL_CALLS][{"name": "f"} {"name": "g"}]"#,
        "[TOOL_CALLS]",
        #"[TOOL_CALLS]f[ARGS]{"a": "#,
    ])
    func mistralMalformedIsContent(text: String) {
        #expect(Self.mistral.parse(text) == ToolCallParseResult(content: text, toolCalls: []))
    }

    // MARK: - Streaming

    static let streamingCases: [(any ToolCallParser, String)] = [
        (hermes, "Plain text with <b>tags</b> and a < sign, no calls."),
        (hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
        (hermes, #"Let me check. <<tool_call>{"name": "a", "arguments": {"q": "say \"hi\" \u00e9 日本 🙂", "n": [1, 2.5e3, {"x": null}], "b": true}}</tool_call>"#
            + "\n<tool_call>\n{\"arguments\": {}, \"name\": \"b\"}\n</tool_call>\nDone."),
        (hermes, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}"),
        (hermes, "<tool_call>not json</tool_call> after"),
        (hermes, "  \n"),
        (llama, "Just text {not a call}"),
        (llama, #"<|python_tag|>{"name": "a", "parameters": {"x": [1, 2], "s": "ü 🙂"}}; {"name": "b", "parameters": {"y": 10}}"#),
        (llama, "\n{\"name\": \"f\", \"arguments\": {\"deep\": {\"deeper\": [[[]]]}}}"),
        (llama, #"{"answer": 42}"#),
        (llama, "<|python_tag|>print(1)"),
        (mistral, #"Sure![TOOL_CALLS][{"name": "a", "arguments": {"x": "ü"}}, {"name": "b", "arguments": "{\"y\": 1}"}] ok"#),
        (mistral, #"[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]t[ARGS]{}"#),
        (mistral, "A [TOOL] [TOOL_CALL] [[TOOL_CALLS]{\"name\": \"f\", \"arguments\": {}}"),
        (mistral, #"[TOOL_CALLS]not json"#),
    ]

    func stream(_ parser: any ToolCallParser, _ pieces: [String]) -> (ToolCallParseResult, [ToolCallDelta]) {
        var streamer = parser.makeStreamer()
        var deltas: [ToolCallDelta] = []
        for piece in pieces { deltas += streamer.feed(piece) }
        deltas += streamer.finish()
        return (ToolCallParseResult(aggregating: deltas), deltas)
    }

    func checkShape(_ deltas: [ToolCallDelta], _ text: String) {
        var started = -1
        for delta in deltas {
            switch delta {
            case .content(let c): #expect(!c.isEmpty, "\(text)")
            case .toolCallStart(let index, let id, _):
                #expect(index == started + 1 && id == nil, "\(text)")
                started = index
            case .arguments(let index, let fragment):
                #expect(index == started && !fragment.isEmpty, "\(text)")
            }
        }
    }

    @Test func streamingMatchesParseAtEverySplit() {
        for (parser, text) in Self.streamingCases {
            let expected = parser.parse(text)
            let scalars = Array(text.unicodeScalars)
            let whole = stream(parser, [text])
            #expect(whole.0 == expected, "\(text)")
            checkShape(whole.1, text)
            for cut in 0...scalars.count {
                let pieces = [String(String.UnicodeScalarView(scalars[..<cut])), String(String.UnicodeScalarView(scalars[cut...]))]
                #expect(stream(parser, pieces).0 == expected, "\(text) cut at \(cut)")
            }
            let single = stream(parser, scalars.map { String($0) })
            #expect(single.0 == expected, "\(text) one scalar at a time")
            checkShape(single.1, text)
        }
    }

    @Test func streamingMatchesParseInRandomChunkings() {
        var rng = ChunkingRandom(seed: 0x7001_CA11)
        for (parser, text) in Self.streamingCases {
            let expected = parser.parse(text)
            let scalars = Array(text.unicodeScalars)
            for _ in 0..<50 {
                var pieces: [String] = []
                var i = 0
                while i < scalars.count {
                    let n = Int(rng.next() % 7)  // empty pieces too
                    let end = min(scalars.count, i + n)
                    pieces.append(String(String.UnicodeScalarView(scalars[i..<end])))
                    i = end
                }
                let (result, deltas) = stream(parser, pieces)
                #expect(result == expected, "\(text) in \(pieces)")
                checkShape(deltas, text)
            }
        }
    }

    @Test func streamingHoldsBackMarkerPrefixesAndStreamsArguments() {
        var s = Self.hermes.makeStreamer()
        #expect(s.feed("Hello <tool") == [.content("Hello ")])
        #expect(s.feed("_call>\n{\"name\": \"f\", \"argu") == [.toolCallStart(index: 0, id: nil, name: "f")])
        #expect(s.feed("ments\": {\"city\": \"Pa") == [.arguments(index: 0, fragment: #"{"city":"Pa"#)])
        #expect(s.feed("ris\"}}\n</tool_call>") == [.arguments(index: 0, fragment: #"ris"}"#)])
        #expect(s.finish() == [])

        var m = Self.mistral.makeStreamer()
        #expect(m.feed("Text [TOOL_") == [.content("Text ")])
        #expect(m.feed("X]") == [.content("[TOOL_X]")])
        #expect(m.finish() == [])

        // Whitespace-only content before a call is not sent on its own.
        var q = QwenToolCallParser().makeStreamer()
        #expect(q.feed("\n\n") == [])
        #expect(q.feed("<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>\n") == [
            .toolCallStart(index: 0, id: nil, name: "g"), .arguments(index: 0, fragment: "{}"),
        ])
        #expect(q.finish() == [])
    }

    @Test func mutatedOutputsNeverCrashAndStreamLikeParseWhenWellFormed() {
        var rng = ChunkingRandom(seed: 42)
        let alphabet = Array("{}[]\",:;<>/_ \n\\aé🙂0-e.tn".unicodeScalars)
        let syntaxes: [String: ToolCallSyntax] = ["hermes": .hermes, "llama3_json": .llama3JSON, "mistral": .mistral]
        var wellFormed = 0
        for (parser, original) in Self.streamingCases {
            let syntax = syntaxes[type(of: parser).name]!
            for _ in 0..<150 {
                var scalars = Array(original.unicodeScalars)
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let at = Int(rng.next() % UInt64(scalars.count + 1))
                    if rng.next() % 2 == 0, at < scalars.count { scalars.remove(at: at) } else {
                        scalars.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                    }
                }
                let text = String(String.UnicodeScalarView(scalars))
                var whole = MarkedToolCallStreamer(syntax: syntax)
                _ = whole.feed(text) + whole.finish()
                let expected = parser.parse(text)
                if whole.failed {
                    #expect(expected == ToolCallParseResult(content: text, toolCalls: []))
                    continue
                }
                wellFormed += 1
                let (result, deltas) = stream(parser, scalars.map { String($0) })
                #expect(result == expected, "\(text)")
                checkShape(deltas, text)
            }
        }
        #expect(wellFormed > 100)
    }

    @Test func longArgumentsStreamInLinearTime() {
        let items = (0..<20_000).map { "\"item \($0) ü\"" }.joined(separator: ", ")
        let text = "<tool_call>{\"name\": \"big\", \"arguments\": {\"items\": [\(items)]}}</tool_call>"
        var s = Self.hermes.makeStreamer()
        var deltas: [ToolCallDelta] = []
        var i = text.startIndex
        while i < text.endIndex {
            let j = text.unicodeScalars.index(i, offsetBy: 3, limitedBy: text.endIndex) ?? text.endIndex
            deltas += s.feed(String(text.unicodeScalars[i..<j]))
            i = j
        }
        deltas += s.finish()
        let result = ToolCallParseResult(aggregating: deltas)
        #expect(result.toolCalls.count == 1)
        #expect(result.toolCalls.first?.arguments == "{\"items\":[" + items.replacingOccurrences(of: ", ", with: ",") + "]}")
        #expect(result == Self.hermes.parse(text))
    }

    @Test func streamingMalformedCallBeforeItsNameBecomesContent() {
        var s = Self.hermes.makeStreamer()
        let text = "Hi <tool_call>{name: f}</tool_call> bye"
        var deltas: [ToolCallDelta] = []
        for scalar in text.unicodeScalars { deltas += s.feed(String(scalar)) }
        deltas += s.finish()
        #expect(ToolCallParseResult(aggregating: deltas) == ToolCallParseResult(content: text, toolCalls: []))
    }
}

/// A small deterministic generator for reproducible chunkings (file-private to avoid clashes).
private struct ChunkingRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
