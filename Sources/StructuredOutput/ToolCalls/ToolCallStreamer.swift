/// One piece of a streamed chat completion, in OpenAI's streaming shape.
public enum ToolCallDelta: Equatable, Sendable {
    /// Text outside tool calls.
    case content(String)
    /// The first chunk of a call: its index within the choice, its id (`nil` when the server assigns
    /// one) and the function name. The server sends it with `type: "function"`.
    case toolCallStart(index: Int, id: String?, name: String)
    /// More of the arguments of call `index`. Concatenating a call's fragments gives its compact
    /// arguments text, the same text ``ToolCallParser/parse(_:)`` returns.
    case arguments(index: Int, fragment: String)
}

/// Turns a model's output, arriving in pieces, into content and tool-call deltas.
///
/// Text that could be the beginning of a tool-call marker (a trailing `<tool` or `[TOOL_`) is held
/// back until it is decided; whitespace-only content is held until real content follows, so a
/// client never sees a content chunk of bare newlines before a call. Use one streamer per choice.
public protocol ToolCallStreamer {
    /// Consumes the next piece of output text and returns the deltas it decides.
    mutating func feed(_ delta: String) -> [ToolCallDelta]
    /// Ends the output: releases held text and settles an unfinished call.
    mutating func finish() -> [ToolCallDelta]
}
