/// One function call recovered from a model's output text.
///
/// `arguments` is the compact JSON text of the arguments value (insignificant whitespace removed,
/// key order and string escapes kept as the model wrote them), ready for the OpenAI
/// `tool_calls[].function.arguments` field.
public struct ParsedToolCall: Equatable, Sendable {
    /// The function name.
    public var name: String
    /// Compact JSON text of the arguments (normally an object, `{}` when the model gave none).
    public var arguments: String

    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// What a ``ToolCallParser`` found in a complete model output.
public struct ToolCallParseResult: Equatable, Sendable {
    /// The text outside tool calls, or `nil` when it is empty or only whitespace.
    public var content: String?
    /// The calls, in the order the model wrote them.
    public var toolCalls: [ParsedToolCall]

    public init(content: String?, toolCalls: [ParsedToolCall]) {
        self.content = content
        self.toolCalls = toolCalls
    }
}
