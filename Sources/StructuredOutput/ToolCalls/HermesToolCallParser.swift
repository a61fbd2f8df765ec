/// vLLM's `hermes` parser: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks, any number,
/// with whitespace and newlines inside; the text around them is content. Hermes 2 Pro and Qwen 2.5
/// (and later Qwen instruct models) emit this. A block still open at the end of the output is
/// accepted when its JSON is complete.
public struct HermesToolCallParser: ToolCallParser {
    public static let name = "hermes"

    public init() {}

    public func parse(_ text: String) -> ToolCallParseResult {
        MarkedToolCallStreamer.parse(text, syntax: .hermes)
    }

    public func makeStreamer() -> any ToolCallStreamer {
        MarkedToolCallStreamer(syntax: .hermes)
    }
}
