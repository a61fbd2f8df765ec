/// Extracts tool calls from a model's output text (vLLM's `--tool-call-parser`).
///
/// A parser accepts what vLLM's parser of the same name accepts. When a call marker is followed by
/// JSON that does not parse, the whole text is returned as content with no calls, as vLLM does.
public protocol ToolCallParser: Sendable {
    /// The name users pass as `--tool-call-parser`.
    static var name: String { get }
    /// Splits a complete output into content and calls.
    func parse(_ text: String) -> ToolCallParseResult
    /// A fresh streamer for one choice; it yields the same content and calls as ``parse(_:)``.
    func makeStreamer() -> any ToolCallStreamer
    /// Whether its markers are special tokens, so the text it reads must keep them.
    var readsSpecialTokens: Bool { get }
}

extension ToolCallParser {
    public var readsSpecialTokens: Bool { false }
}

/// Why a tool-call parser could not be chosen.
public enum ToolCallParserError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No parser has this name; `known` lists the names that exist.
    case unknownParser(String, known: [String])

    public var description: String {
        switch self {
        case .unknownParser(let name, let known):
            "unknown tool-call parser '\(name)'; known parsers: \(known.joined(separator: ", "))"
        }
    }
}

/// The tool-call parsers by name.
public enum ToolCallParsers {
    static let all: [any ToolCallParser] = [
        HermesToolCallParser(), QwenToolCallParser(), Llama3JSONToolCallParser(), MistralToolCallParser(),
    ]

    /// The names of all parsers, in registration order.
    public static var names: [String] { all.map { type(of: $0).name } }

    /// The parser called `name` (as in vLLM's `--tool-call-parser NAME`).
    public static func parser(named name: String) throws(ToolCallParserError) -> any ToolCallParser {
        guard let parser = all.first(where: { type(of: $0).name == name }) else {
            throw .unknownParser(name, known: names)
        }
        return parser
    }
}
