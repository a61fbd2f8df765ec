import Foundation
import StructuredOutput
import Tokenization

/// What a caller asks the engine to continue.
public enum PromptInput: Sendable, Equatable {
    /// Raw text (BOS added as the model's metadata says; special-token text is not parsed).
    case text(String)
    /// Token ids, used as given.
    case tokens([Int])
    /// Chat messages, rendered with the model's chat template.
    case chat([ChatMessage])
}

/// A validated request on its way into the engine core (vLLM's `EngineCoreRequest`).
public struct EngineCoreRequest: Sendable {
    public var requestId: String
    /// The caller's id; children of an n > 1 request share it.
    public var parentId: String
    /// Which of the n completions this is.
    public var index: Int
    public var promptTokenIds: [Int]
    public var samplingParams: SamplingParams
    public var priority: Int
    public var arrivalTime: Double
    /// The compiled constraint of `samplingParams.structuredOutputs`.
    public var grammar: CompiledGrammar?
}

/// Why a request was refused at the door.
public enum InputError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(tokens: Int, maxModelLength: Int)
    case tokenOutOfRange(id: Int, vocabSize: Int)
    case invalidSamplingParams(SamplingParamsError)
    case duplicateRequestId(String)
    case chatTemplate(ChatTemplateError)
    /// The structured-output constraint cannot be compiled (the message names the construct).
    case invalidStructuredOutput(kind: String, GrammarError)

    public var description: String {
        switch self {
        case .emptyPrompt: "the prompt is empty"
        case .promptTooLong(let n, let m): "the prompt has \(n) tokens; this model's context holds \(m) (prompt and output together)"
        case .tokenOutOfRange(let id, let v): "token id \(id) is outside the vocabulary (0..<\(v))"
        case .invalidSamplingParams(let e): e.description
        case .duplicateRequestId(let id): "request id '\(id)' is already in use"
        case .chatTemplate(let e): e.description
        case .invalidStructuredOutput(let kind, let e): "the \(kind) constraint cannot be enforced: \(e)"
        }
    }
}

/// Tokenizes, applies the chat template, validates, assigns ids and fans n > 1 out into children
/// (vLLM's `InputProcessor`). Pure: safe to call from any thread.
public struct InputProcessor: Sendable {
    public let tokenizer: Tokenizer
    public let maxModelLength: Int
    /// How chat messages become a prompt: the model's template, or one the caller gave.
    public let chatTemplate: ChatTemplate
    /// Compiles and caches the requests' output constraints.
    public let structuredOutputs: StructuredOutputManager

    public init(tokenizer: Tokenizer, maxModelLength: Int, chatTemplate: ChatTemplate? = nil) {
        self.tokenizer = tokenizer
        self.maxModelLength = maxModelLength
        self.chatTemplate = chatTemplate ?? tokenizer.chatTemplate()
        structuredOutputs = StructuredOutputManager(tokenizer: tokenizer)
    }

    /// The prompt's token ids; chat goes through ``Tokenizer/encodeChat(_:template:addGenerationPrompt:variables:)``,
    /// exactly as the server renders it.
    public func tokenize(_ prompt: PromptInput) throws(InputError) -> [Int] {
        switch prompt {
        case .text(let s): return tokenizer.encode(s, addSpecial: true, parseSpecial: false)
        case .tokens(let ids): return ids
        case .chat(let messages):
            do throws(ChatTemplateError) { return try tokenizer.encodeChat(messages, template: chatTemplate) } catch { throw .chatTemplate(error) }
        }
    }

    public func process(_ prompt: PromptInput, params: SamplingParams, requestId: String? = nil, priority: Int = 0,
                        arrivalTime: Double = Date().timeIntervalSinceReferenceDate) throws(InputError) -> [EngineCoreRequest] {
        do { try params.validate(vocabSize: tokenizer.vocabSize) } catch { throw .invalidSamplingParams(error) }
        let ids = try tokenize(prompt)
        guard !ids.isEmpty else { throw .emptyPrompt }
        guard ids.count < maxModelLength else { throw .promptTooLong(tokens: ids.count, maxModelLength: maxModelLength) }
        if let bad = ids.first(where: { $0 < 0 || $0 >= tokenizer.vocabSize }) { throw .tokenOutOfRange(id: bad, vocabSize: tokenizer.vocabSize) }
        var grammar: CompiledGrammar?
        if let constraint = params.structuredOutputs {
            do { grammar = try structuredOutputs.compile(constraint) } catch { throw .invalidStructuredOutput(kind: constraint.kind, error) }
        }
        let parent = requestId ?? "req-" + UUID().uuidString.lowercased()
        guard params.n > 1 else {
            return [EngineCoreRequest(requestId: parent, parentId: parent, index: 0, promptTokenIds: ids, samplingParams: params,
                                      priority: priority, arrivalTime: arrivalTime, grammar: grammar)]
        }
        return (0..<params.n).map { i in
            var child = params
            child.n = 1
            if let seed = params.seed { child.seed = seed &+ UInt64(i) }
            return EngineCoreRequest(requestId: "\(i)_\(parent)", parentId: parent, index: i, promptTokenIds: ids,
                                     samplingParams: child, priority: priority, arrivalTime: arrivalTime, grammar: grammar)
        }
    }
}
