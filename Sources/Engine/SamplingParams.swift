import KVTransfer
/// How to generate for one request (vLLM's `SamplingParams`: names, meanings and defaults).
public struct SamplingParams: Sendable, Equatable {
    /// Number of completions for the prompt; they share the prompt's KV blocks.
    public var n = 1
    /// 0 means greedy.
    public var temperature: Float = 1
    /// Keep the k most likely tokens; 0 or -1 keeps all.
    public var topK = 0
    /// Keep the smallest set of tokens whose probability reaches `topP`.
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` times the most likely one.
    public var minP: Float = 0
    /// Subtracted from the logit of every token already generated (OpenAI's presence penalty).
    public var presencePenalty: Float = 0
    /// Subtracted once per earlier occurrence in the output (OpenAI's frequency penalty).
    public var frequencyPenalty: Float = 0
    /// Divides positive (multiplies negative) logits of tokens seen in prompt or output; 1 = off.
    public var repetitionPenalty: Float = 1
    /// Added to the logits of the given token ids.
    public var logitBias: [Int: Float] = [:]
    /// Seed of this request's random generator; nil draws one.
    public var seed: UInt64?
    /// Most tokens to generate; nil means up to the context length.
    public var maxTokens: Int? = 16
    /// End-of-sequence and stop tokens are ignored until this many tokens were generated.
    public var minTokens = 0
    /// Generation stops when the text contains one of these.
    public var stop: [String] = []
    /// Generation stops at these token ids.
    public var stopTokenIds: [Int] = []
    /// Keep generating past the end-of-sequence token.
    public var ignoreEOS = false
    /// Keep the matched stop string in the output text.
    public var includeStopStrInOutput = false
    /// Return the log-probability of each generated token and of this many top alternatives.
    public var logprobs: Int?
    /// Return log-probabilities for the prompt tokens (this many top alternatives each).
    public var promptLogprobs: Int?
    /// Leave special tokens out of the output text.
    public var skipSpecialTokens = true
    /// The output must match this constraint (JSON Schema, regex, choice or grammar).
    public var structuredOutputs: StructuredOutputsParams?
    /// Disaggregated serving's `kv_transfer_params` (prefill/decode instances, set by the proxy).
    public var kvTransferParams: KVTransferParams?

    public init(n: Int = 1, temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0, repetitionPenalty: Float = 1,
                logitBias: [Int: Float] = [:], seed: UInt64? = nil, maxTokens: Int? = 16, minTokens: Int = 0,
                stop: [String] = [], stopTokenIds: [Int] = [], ignoreEOS: Bool = false,
                includeStopStrInOutput: Bool = false, logprobs: Int? = nil, promptLogprobs: Int? = nil,
                skipSpecialTokens: Bool = true, structuredOutputs: StructuredOutputsParams? = nil) {
        self.n = n
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.logitBias = logitBias
        self.seed = seed
        self.maxTokens = maxTokens
        self.minTokens = minTokens
        self.stop = stop
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
        self.includeStopStrInOutput = includeStopStrInOutput
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
        self.skipSpecialTokens = skipSpecialTokens
        self.structuredOutputs = structuredOutputs
    }

    /// Greedy decoding.
    public static func greedy(maxTokens: Int) -> SamplingParams {
        SamplingParams(temperature: 0, maxTokens: maxTokens)
    }

    public var isGreedy: Bool { temperature == 0 || topK == 1 }

    /// Whether any logit processing beyond temperature/top-k/top-p/min-p is needed.
    var hasPenaltiesOrBias: Bool { hasPenalties || !logitBias.isEmpty }

    /// Whether a penalty reads the counts of the output's tokens.
    var hasPenalties: Bool { presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1 }

    /// Most alternatives a request may ask log-probabilities for.
    public static let maxLogprobs = 20

    /// Checks every field; the error names the first bad one.
    public func validate(vocabSize: Int? = nil) throws(SamplingParamsError) {
        func fail(_ field: String, _ reason: String) -> SamplingParamsError { .invalid(field: field, reason: reason) }
        guard n >= 1, n <= 128 else { throw fail("n", "must be between 1 and 128, got \(n)") }
        guard temperature.isFinite, temperature >= 0 else { throw fail("temperature", "must be a finite number ≥ 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw fail("top_p", "must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw fail("min_p", "must be in [0, 1], got \(minP)") }
        guard topK >= -1 else { throw fail("top_k", "must be -1, 0 (all) or positive, got \(topK)") }
        guard presencePenalty.isFinite, presencePenalty >= -2, presencePenalty <= 2 else {
            throw fail("presence_penalty", "must be in [-2, 2], got \(presencePenalty)")
        }
        guard frequencyPenalty.isFinite, frequencyPenalty >= -2, frequencyPenalty <= 2 else {
            throw fail("frequency_penalty", "must be in [-2, 2], got \(frequencyPenalty)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw fail("repetition_penalty", "must be a finite number > 0, got \(repetitionPenalty)")
        }
        if let maxTokens { guard maxTokens >= 1 else { throw fail("max_tokens", "must be at least 1, got \(maxTokens)") } }
        guard minTokens >= 0 else { throw fail("min_tokens", "must be ≥ 0, got \(minTokens)") }
        if let maxTokens, minTokens > maxTokens { throw fail("min_tokens", "must not exceed max_tokens (\(maxTokens)), got \(minTokens)") }
        guard !stop.contains(where: \.isEmpty) else { throw fail("stop", "must not contain empty strings") }
        if let logprobs { guard (0...Self.maxLogprobs).contains(logprobs) else { throw fail("logprobs", "must be in 0…\(Self.maxLogprobs), got \(logprobs)") } }
        if let promptLogprobs {
            guard (0...Self.maxLogprobs).contains(promptLogprobs) else { throw fail("prompt_logprobs", "must be in 0…\(Self.maxLogprobs), got \(promptLogprobs)") }
        }
        if let vocabSize {
            for (id, bias) in logitBias {
                guard id >= 0, id < vocabSize else { throw fail("logit_bias", "token id \(id) is outside the vocabulary (0..<\(vocabSize))") }
                guard bias.isFinite else { throw fail("logit_bias", "bias for token \(id) must be finite") }
            }
            for id in stopTokenIds where id < 0 || id >= vocabSize {
                throw fail("stop_token_ids", "token id \(id) is outside the vocabulary (0..<\(vocabSize))")
            }
        }
    }
}

public enum SamplingParamsError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(field: String, reason: String)

    public var field: String {
        switch self { case .invalid(let field, _): field }
    }

    public var description: String {
        switch self {
        case .invalid(let field, let reason): "\(field) \(reason)"
        }
    }
}
