/// `qwen`: the Qwen 2.5 tool-call format, which is Hermes's (vLLM users pass `hermes` for Qwen 2.5;
/// both names are accepted here). See ``HermesToolCallParser``.
public struct QwenToolCallParser: ToolCallParser {
    public static let name = "qwen"

    public init() {}

    public func parse(_ text: String) -> ToolCallParseResult {
        MarkedToolCallStreamer.parse(text, syntax: .hermes)
    }

    public func makeStreamer() -> any ToolCallStreamer {
        MarkedToolCallStreamer(syntax: .hermes)
    }
}
