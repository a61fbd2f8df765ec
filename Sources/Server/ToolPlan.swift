import Engine
import Foundation
import StructuredOutput
import Tokenization

/// An entry of `tools`: a function with a JSON Schema for its parameters (the schema itself is
/// read from the raw body, keeping its key order).
struct ChatToolField: Decodable, Sendable {
    var type: String
    var function: Function

    struct Function: Decodable, Sendable {
        var name: String
        var description: String?
        var strict: Bool?
    }
}

/// `tool_choice`: "none", "auto", "required", or `{"type": "function", "function": {"name": …}}`.
enum ToolChoiceField: Decodable, Sendable, Equatable {
    case none, auto, required
    case named(String)

    private struct Named: Decodable {
        struct Function: Decodable { var name: String }
        var type: String
        var function: Function
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let word = try? c.decode(String.self) {
            switch word {
            case "none": self = .none
            case "auto": self = .auto
            case "required": self = .required
            default:
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                                                        debugDescription: "expected none, auto, required or a named function, got '\(word)'"))
            }
        } else {
            let named = try c.decode(Named.self)
            guard named.type == "function" else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "type must be function"))
            }
            self = .named(named.function.name)
        }
    }
}

/// How one chat request uses its tools (vLLM's tool calling): `auto` lets the model call them in
/// its own format, read back by the `--tool-call-parser`; `required` and a named function are
/// enforced with a grammar, so every call parses and fits its parameter schema.
struct ToolPlan: Sendable {
    struct Tool: Sendable {
        var name: String
        var description: String?
        /// The parameters' JSON Schema as compact JSON text.
        var parameters: String
    }

    var choice: ToolChoiceField
    var tools: [Tool]
    var parallel: Bool

    /// Reads and checks `tools`, `tool_choice` and `parallel_tool_calls`; nil when the request
    /// has no tools.
    init?(tools fields: [ChatToolField]?, choice: ToolChoiceField?, parallel: Bool?, raw: RawBody) throws(OpenAIError) {
        guard let fields, !fields.isEmpty else {
            if let choice, choice != .none {
                throw .invalidRequest("tool_choice needs tools: this request gives none.", param: "tool_choice")
            }
            return nil
        }
        var tools: [Tool] = []
        for (i, field) in fields.enumerated() {
            guard field.type == "function" else {
                throw .invalidRequest("Only function tools are supported, got type '\(field.type)'.", param: "tools[\(i)].type")
            }
            let name = field.function.name
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw .invalidRequest("Function names must be 1-64 characters of a-z, A-Z, 0-9, underscores and dashes, got '\(name)'.",
                                      param: "tools[\(i)].function.name")
            }
            guard !tools.contains(where: { $0.name == name }) else {
                throw .invalidRequest("Function '\(name)' is given twice.", param: "tools[\(i)].function.name")
            }
            let parameters = try raw.json(at: ["tools", "\(i)", "function", "parameters"], param: "tools[\(i)].function.parameters",
                                          default: #"{"type":"object","properties":{}}"#)
            tools.append(Tool(name: name, description: field.function.description, parameters: parameters))
        }
        let choice = choice ?? .auto
        if case .named(let name) = choice, !tools.contains(where: { $0.name == name }) {
            throw .invalidRequest("tool_choice names function '\(name)', which is not among the tools.", param: "tool_choice")
        }
        self.choice = choice
        self.tools = tools
        self.parallel = parallel ?? true
    }

    /// Whether the output is read for tool calls.
    var callsTools: Bool { choice != .none }

    /// Whether a choice that called functions finishes with `tool_calls` (auto and required; a
    /// named function finishes with `stop`, as OpenAI's API does).
    var endsWithToolCalls: Bool {
        if case .named = choice { return false }
        return callsTools
    }

    /// The grammar constraint `required` and named choices impose (nil for auto and none).
    var constraint: StructuredOutputsParams? {
        switch choice {
        case .none, .auto:
            return nil
        case .named(let name):
            return .json(schema: tools.first { $0.name == name }!.parameters)
        case .required:
            // A JSON array of {"name": …, "parameters": …} objects, one shape per function.
            let shapes = tools.map { tool in
                #"{"type":"object","properties":{"name":{"type":"string","const":\#(Self.quoted(tool.name))},"#
                    + #""parameters":\#(tool.parameters)},"required":["name","parameters"],"additionalProperties":false}"#
            }
            let most = parallel ? "" : #","maxItems":1"#
            return .json(schema: #"{"type":"array","minItems":1\#(most),"items":{"anyOf":[\#(shapes.joined(separator: ","))]}}"#)
        }
    }

    /// The tools as chat templates expect them (`tools` variable, OpenAI's shape).
    var templateValue: JinjaValue { .array(functions) }

    /// Each tool in OpenAI's shape (`{"type": "function", "function": {…}}`).
    private var functions: [JinjaValue] {
        tools.map { tool in
            var function = JinjaObject([("name", .string(tool.name))])
            if let description = tool.description { function["description"] = .string(description) }
            function["parameters"] = JinjaValue(json: tool.parameters) ?? .dictionary([:])
            return .object(JinjaObject([("type", "function"), ("function", .object(function))]))
        }
    }

    /// For templates that know nothing of tools: the system prompt Hermes-format models are
    /// trained with (Qwen 2.5's template writes the same), listing the functions.
    var systemPrompt: String {
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            + functions.map { $0.compactJSON ?? "" }.joined(separator: "\n")
            + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
            + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>"
    }

    /// Reads the finished text of one choice into content and tool calls.
    func parse(_ text: String, parser: any ToolCallParser) -> ToolCallParseResult {
        switch choice {
        case .none:
            return ToolCallParseResult(content: text, toolCalls: [])
        case .auto:
            return parser.parse(text)
        case .named(let name):
            // The whole output is the arguments, as generated (and as streamed).
            return ToolCallParseResult(content: nil, toolCalls: [ParsedToolCall(name: name, arguments: text)])
        case .required:
            guard case .array(let items)? = JinjaValue(json: text) else { return ToolCallParseResult(content: text, toolCalls: []) }
            var calls: [ParsedToolCall] = []
            for item in items {
                guard case .object(let object) = item, case .string(let name)? = object["name"] else { continue }
                calls.append(ParsedToolCall(name: name, arguments: object["parameters"]?.compactJSON ?? "{}"))
            }
            return ToolCallParseResult(content: nil, toolCalls: calls)
        }
    }

    /// A streamer that turns one choice's text deltas into content and tool-call deltas.
    func makeStreamer(parser: any ToolCallParser) -> any ToolCallStreamer {
        switch choice {
        case .none: return PlainTextStreamer()
        case .auto: return parser.makeStreamer()
        case .named(let name): return NamedToolStreamer(name: name)
        case .required: return RequiredToolStreamer(plan: self, parser: parser)
        }
    }

    /// A new tool-call id (OpenAI's `call_` form).
    static func callId() -> String {
        "call_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    private static func quoted(_ s: String) -> String { JinjaValue.string(s).compactJSON ?? "\"\"" }
}

/// `tool_choice: none`: everything is content.
struct PlainTextStreamer: ToolCallStreamer {
    mutating func feed(_ delta: String) -> [ToolCallDelta] { delta.isEmpty ? [] : [.content(delta)] }
    mutating func finish() -> [ToolCallDelta] { [] }
}

/// A named function: the whole output is its arguments, streamed as they come.
struct NamedToolStreamer: ToolCallStreamer {
    let name: String
    private var started = false

    init(name: String) { self.name = name }

    mutating func feed(_ delta: String) -> [ToolCallDelta] {
        var out: [ToolCallDelta] = []
        if !started {
            started = true
            out.append(.toolCallStart(index: 0, id: nil, name: name))
        }
        if !delta.isEmpty { out.append(.arguments(index: 0, fragment: delta)) }
        return out
    }

    mutating func finish() -> [ToolCallDelta] { started ? [] : [.toolCallStart(index: 0, id: nil, name: name)] }
}

/// `required`: the output is a JSON array of calls; each call is sent once the array is complete.
struct RequiredToolStreamer: ToolCallStreamer {
    let plan: ToolPlan
    let parser: any ToolCallParser
    private var text = ""

    init(plan: ToolPlan, parser: any ToolCallParser) {
        self.plan = plan
        self.parser = parser
    }

    mutating func feed(_ delta: String) -> [ToolCallDelta] {
        text += delta
        return []
    }

    mutating func finish() -> [ToolCallDelta] {
        let result = plan.parse(text, parser: parser)
        if result.toolCalls.isEmpty { return text.isEmpty ? [] : [.content(text)] }
        return result.toolCalls.enumerated().flatMap { i, call -> [ToolCallDelta] in
            [.toolCallStart(index: i, id: nil, name: call.name), .arguments(index: i, fragment: call.arguments)]
        }
    }
}
