/// The output formats the tool-call parsers read; ``MarkedToolCallStreamer`` is driven by it.
enum ToolCallSyntax: Sendable {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, any number, content around them
    /// (Hermes, Qwen 2.5).
    case hermes
    /// Optional `<|python_tag|>`, then call objects (`"parameters"` or `"arguments"`) separated by
    /// `;`, and nothing else; output that does not begin so is plain content (Llama 3.x JSON).
    case llama3JSON
    /// `[TOOL_CALLS]` then a JSON array of call objects (a single object is accepted too), or the
    /// newer `[TOOL_CALLS]name[ARGS]{…}`; content before and after (Mistral).
    case mistral

    static let hermesStart = Array("<tool_call>".utf8)
    static let hermesEnd = Array("</tool_call>".utf8)
    static let llamaTag = Array("<|python_tag|>".utf8)
    static let mistralStart = Array("[TOOL_CALLS]".utf8)
    static let mistralArgs = Array("[ARGS]".utf8)
}
