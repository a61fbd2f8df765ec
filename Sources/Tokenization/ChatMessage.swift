/// One turn of a conversation.
public struct ChatMessage: Sendable, Hashable {
    /// `system`, `user`, `assistant`, `tool`, or any other role the model knows.
    public var role: String
    public var content: String
    /// The functions an assistant turn called (OpenAI's `tool_calls`).
    public var toolCalls: [ChatToolCall]
    /// The call a `tool` turn answers.
    public var toolCallId: String?
    /// The name of the function a `tool` turn answers for, or of a participant.
    public var name: String?

    public init(role: String, content: String, toolCalls: [ChatToolCall] = [], toolCallId: String? = nil, name: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.name = name
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }

    /// The message as chat templates see it: `role` and `content`, plus `tool_calls` (with the
    /// arguments as an object, as Hugging Face passes them), `tool_call_id` and `name` when set.
    var templateValue: JinjaValue {
        var object = JinjaObject([("role", .string(role)), ("content", .string(content))])
        if !toolCalls.isEmpty { object["tool_calls"] = .array(toolCalls.map(\.templateValue)) }
        if let toolCallId { object["tool_call_id"] = .string(toolCallId) }
        if let name { object["name"] = .string(name) }
        return .object(object)
    }
}

/// A function call made by an assistant turn.
public struct ChatToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    /// The arguments as JSON text.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    var templateValue: JinjaValue {
        let arguments = JinjaValue(json: arguments) ?? .string(arguments)
        return .dictionary(["id": .string(id), "type": "function",
                            "function": .dictionary(["name": .string(name), "arguments": arguments])])
    }
}

extension JinjaValue {
    /// Compact JSON text (`,` and `:` separators, keys in their order); nil for values JSON
    /// cannot hold (functions, namespaces).
    public var compactJSON: String? {
        try? JinjaJSON.encode(self, indent: nil, separators: .array([",", ":"]), sortKeys: false, ensureASCII: false, namespaces: [])
    }
}
