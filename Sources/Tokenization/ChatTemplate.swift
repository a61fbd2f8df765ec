/// Renders conversations in the ChatML format (`<|im_start|>role\ncontent<|im_end|>\n`).
///
/// Not a Jinja interpreter: it knows ChatML and one refinement seen in model templates. When the
/// model's template is SmolLM's (it mentions "You are a helpful AI assistant named SmolLM") and
/// the conversation does not start with a system message, the template's default system
/// message is put first, as that template does.
public struct ChatTemplate: Sendable {
    /// The Jinja source from the model, if any.
    public let source: String?
    /// The system message used when a conversation has none, taken from the template.
    public let defaultSystemMessage: String?

    private static let smolLMMarker = "You are a helpful AI assistant named SmolLM"

    public init(source: String?) {
        self.source = source
        defaultSystemMessage = source.flatMap(Self.defaultSystemMessage(in:))
    }

    /// The prompt text for `messages`, ending with `<|im_start|>assistant\n` when
    /// `addGenerationPrompt`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var text = ""
        if let defaultSystemMessage, let first = messages.first, first.role != "system" {
            text += "<|im_start|>system\n\(defaultSystemMessage)<|im_end|>\n"
        }
        for message in messages {
            text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
        }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }

    /// SmolLM's default system message: from the marker to the next `<|im_end|>`.
    private static func defaultSystemMessage(in template: String) -> String? {
        guard let start = template.firstRange(of: smolLMMarker)?.lowerBound,
              let end = template[start...].firstRange(of: "<|im_end|>")?.lowerBound else { return nil }
        return String(template[start..<end])
    }
}

extension Tokenizer {
    /// The ChatML prompt for `messages`, following the model's template where ``ChatTemplate``
    /// understands it. Encode it with `parseSpecial: true`.
    public func applyChatML(messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        ChatTemplate(source: chatTemplate).render(messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// The ChatML prompt for `(role, content)` pairs.
    public func applyChatML(messages: [(role: String, content: String)], addGenerationPrompt: Bool = true) -> String {
        applyChatML(messages: messages.map { ChatMessage(role: $0.role, content: $0.content) }, addGenerationPrompt: addGenerationPrompt)
    }
}
