/// vLLM's `llama3_json` parser (Llama 3.1–3.3 JSON tool calling): an optional `<|python_tag|>`, then
/// one or more objects `{"name": …, "parameters": {…}}` (or `"arguments"`) separated by `;`.
/// Output that does not begin with `{` or the tag (after whitespace) is plain content; output that
/// begins so but is not a sequence of call objects is returned whole as content.
public struct Llama3JSONToolCallParser: ToolCallParser {
    public static let name = "llama3_json"

    public init() {}

    public func parse(_ text: String) -> ToolCallParseResult {
        MarkedToolCallStreamer.parse(text, syntax: .llama3JSON)
    }

    public func makeStreamer() -> any ToolCallStreamer {
        MarkedToolCallStreamer(syntax: .llama3JSON)
    }
}
