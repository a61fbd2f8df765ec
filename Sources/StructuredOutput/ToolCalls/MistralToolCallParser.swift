/// vLLM's `mistral` parser: `[TOOL_CALLS]` followed by a JSON array of
/// `{"name": …, "arguments": {…}}` (arguments may also be a JSON string holding the object); the
/// text before it is content. The newer `[TOOL_CALLS]name[ARGS]{…}` form (tokenizer v11 and later,
/// one marker per call) is accepted too. The marker is a special token: the server must detokenize
/// it (vLLM sets `skip_special_tokens=False` for this parser).
public struct MistralToolCallParser: ToolCallParser {
    public static let name = "mistral"
    public let readsSpecialTokens = true

    public init() {}

    public func parse(_ text: String) -> ToolCallParseResult {
        MarkedToolCallStreamer.parse(text, syntax: .mistral)
    }

    public func makeStreamer() -> any ToolCallStreamer {
        MarkedToolCallStreamer(syntax: .mistral)
    }
}
