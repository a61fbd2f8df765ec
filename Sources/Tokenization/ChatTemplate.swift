/// Renders conversations with a model's chat template (`tokenizer.chat_template`, Jinja).
///
/// The template runs in ``JinjaTemplate``, the subset of Jinja2 that real chat templates use, with
/// the variables Hugging Face's `apply_chat_template` passes: `messages` (each with `role` and
/// `content`), `add_generation_prompt`, `bos_token` and `eos_token`. A model without a template
/// gets ChatML (`<|im_start|>role\ncontent<|im_end|>\n`).
///
/// ```swift
/// let template = try ChatTemplate(validating: source, bosToken: "<s>", eosToken: "</s>")
/// let prompt = try template.apply([.user("Hello")], addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    /// The Jinja source from the model, if any.
    public let source: String?
    /// The text of the BOS token, as templates see it in `bos_token`.
    public let bosToken: String
    /// The text of the EOS token, as templates see it in `eos_token`.
    public let eosToken: String
    /// The system message SmolLM's template puts first when a conversation has none.
    public let defaultSystemMessage: String?
    private let template: Result<JinjaTemplate, ChatTemplateError>?

    private static let smolLMMarker = "You are a helpful AI assistant named SmolLM"

    /// Prepares `source` without failing: a template that cannot be parsed makes ``apply(_:addGenerationPrompt:variables:)``
    /// throw and ``render(_:addGenerationPrompt:)`` fall back to ChatML.
    public init(source: String?, bosToken: String = "", eosToken: String = "") {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        defaultSystemMessage = source.flatMap(Self.defaultSystemMessage(in:))
        template = source.map { source in
            do throws(ChatTemplateError) { return .success(try JinjaTemplate(source)) } catch { return .failure(error) }
        }
    }

    /// Parses `source` and renders a one-message conversation with it, so that a template this
    /// interpreter cannot run is an error now (at model load), not garbage later.
    /// A `raise_exception` from the template is not an error here: it refuses that conversation.
    public init(validating source: String, bosToken: String = "", eosToken: String = "") throws(ChatTemplateError) {
        self.init(source: source, bosToken: bosToken, eosToken: eosToken)
        do {
            _ = try apply([.user("Hello")], addGenerationPrompt: true)
        } catch .raised {
            // The template ran and judged the conversation; that is what it should do.
        }
    }

    /// The prompt text for `messages`.
    ///
    /// - Parameters:
    ///   - addGenerationPrompt: end with the header of an assistant turn.
    ///   - variables: more top-level variables for the template (`tools`, `date_string`, …).
    /// - Throws: ``ChatTemplateError/raised(_:)`` when the template refuses the conversation;
    ///   other ``ChatTemplateError``s when the template cannot be run.
    public func apply(_ messages: [ChatMessage], addGenerationPrompt: Bool,
                      variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> String {
        guard let template else { return Self.chatML(messages, addGenerationPrompt: addGenerationPrompt) }
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map { .dictionary(["role": .string($0.role), "content": .string($0.content)]) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        context.merge(variables) { _, new in new }
        return try template.get().render(context)
    }

    /// The prompt text for `messages`, never failing: when the template cannot render the
    /// conversation, ChatML with SmolLM's default system message (if the template has one).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        if let text = try? apply(messages, addGenerationPrompt: addGenerationPrompt) { return text }
        var all = messages
        if let defaultSystemMessage, let first = messages.first, first.role != "system" {
            all.insert(.system(defaultSystemMessage), at: 0)
        }
        return Self.chatML(all, addGenerationPrompt: addGenerationPrompt)
    }

    private static func chatML(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var text = ""
        for message in messages { text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
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
    /// The text of the BOS token ("" when the vocabulary has none).
    public var bosTokenText: String { bosTokenId.map { vocabulary.tokens[$0] } ?? "" }
    /// The text of the EOS token ("" when the vocabulary has none).
    public var eosTokenText: String { eosTokenId.map { vocabulary.tokens[$0] } ?? "" }

    /// The model's chat template with its BOS and EOS texts (ChatML when it has none).
    public var chatTemplateRenderer: ChatTemplate {
        ChatTemplate(source: chatTemplate, bosToken: bosTokenText, eosToken: eosTokenText)
    }

    /// The prompt for `messages` with the model's chat template (ChatML when it has none).
    /// Encode it with `parseSpecial: true`.
    public func applyChatML(messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        chatTemplateRenderer.render(messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// The prompt for `(role, content)` pairs.
    public func applyChatML(messages: [(role: String, content: String)], addGenerationPrompt: Bool = true) -> String {
        applyChatML(messages: messages.map { ChatMessage(role: $0.role, content: $0.content) }, addGenerationPrompt: addGenerationPrompt)
    }
}
