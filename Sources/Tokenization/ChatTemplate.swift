/// Renders conversations with a model's chat template (`tokenizer.chat_template`, Jinja).
///
/// The template runs in ``JinjaTemplate``, the subset of Jinja2 that real chat templates use, with
/// the variables Hugging Face's `apply_chat_template` passes: `messages` (each with `role` and
/// `content`), `add_generation_prompt`, `bos_token` and `eos_token`. A model without a template
/// (a base model) renders nothing: ``apply(_:addGenerationPrompt:variables:)`` throws
/// ``ChatTemplateError/missing``, and the caller offers plain completion or a template of its own.
///
/// ```swift
/// let template = try ChatTemplate(validating: source, bosToken: "<s>", eosToken: "</s>")
/// let prompt = try template.apply([.user("Hello")], addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    /// The Jinja source, if any.
    public let source: String?
    /// The text of the BOS token, as templates see it in `bos_token`.
    public let bosToken: String
    /// The text of the EOS token, as templates see it in `eos_token`.
    public let eosToken: String
    private let template: Result<JinjaTemplate, ChatTemplateError>?

    /// Prepares `source` without failing: a template that cannot be parsed makes
    /// ``apply(_:addGenerationPrompt:variables:)`` throw its error.
    public init(source: String?, bosToken: String = "", eosToken: String = "") {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
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

    /// Whether there is a template to render with.
    public var exists: Bool { source != nil }

    /// The prompt text for `messages`.
    ///
    /// - Parameters:
    ///   - addGenerationPrompt: end with the header of an assistant turn.
    ///   - variables: more top-level variables for the template (`tools`, `date_string`, …).
    /// - Throws: ``ChatTemplateError/missing`` without a template; ``ChatTemplateError/raised(_:)``
    ///   when the template refuses the conversation; other ``ChatTemplateError``s when the template
    ///   cannot be run.
    public func apply(_ messages: [ChatMessage], addGenerationPrompt: Bool,
                      variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> String {
        guard let template else { throw .missing }
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map(\.templateValue)),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        context.merge(variables) { _, new in new }
        return try template.get().render(context)
    }
}

extension Tokenizer {
    /// The text of the BOS token ("" when the vocabulary has none).
    public var bosTokenText: String { bosTokenId.map { vocabulary.tokens[$0] } ?? "" }
    /// The text of the EOS token ("" when the vocabulary has none).
    public var eosTokenText: String { eosTokenId.map { vocabulary.tokens[$0] } ?? "" }

    /// The model's own chat template, with its BOS and EOS texts; or `source` in its place.
    public func chatTemplate(overriding source: String? = nil) -> ChatTemplate {
        ChatTemplate(source: source ?? chatTemplate, bosToken: bosTokenText, eosToken: eosTokenText)
    }

    /// The token ids of `messages` rendered with `template`: special-token text is parsed, and
    /// BOS is added as the model's metadata says unless the template wrote it already. The one
    /// chat path of the server, the engine and the CLI.
    public func encodeChat(_ messages: [ChatMessage], template: ChatTemplate, addGenerationPrompt: Bool = true,
                           variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> [Int] {
        let text = try template.apply(messages, addGenerationPrompt: addGenerationPrompt, variables: variables)
        let templateHasBOS = !bosTokenText.isEmpty && text.hasPrefix(bosTokenText)
        return encode(text, addSpecial: !templateHasBOS, parseSpecial: true)
    }
}
