import Engine

/// `prompt`: a string, a list of strings, a list of token ids or a list of lists of token ids.
enum PromptField: Decodable, Sendable {
    case texts([String])
    case tokenLists([[Int]])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = .texts([text])
        } else if let ids = try? c.decode([Int].self) {
            self = .tokenLists([ids])
        } else if let texts = try? c.decode([String].self) {
            self = .texts(texts)
        } else if let lists = try? c.decode([[Int]].self) {
            self = .tokenLists(lists)
        } else {
            throw DecodingError.typeMismatch(PromptField.self, .init(
                codingPath: c.codingPath,
                debugDescription: "expected a string, an array of strings, an array of token ids or an array of arrays of token ids"))
        }
    }
}

/// `stop`: a string or a list of strings.
struct StopField: Decodable, Sendable {
    var strings: [String]

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            strings = []
        } else if let one = try? c.decode(String.self) {
            strings = [one]
        } else if let many = try? c.decode([String].self) {
            strings = many
        } else {
            throw DecodingError.typeMismatch(StopField.self, .init(codingPath: c.codingPath,
                                                                   debugDescription: "expected a string or an array of strings"))
        }
    }
}

/// `stream_options`.
struct StreamOptions: Decodable, Sendable {
    var includeUsage: Bool?

    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// The sampling fields both completion APIs share, with OpenAI's and vLLM's names.
struct SamplingFields: Decodable, Sendable {
    var n: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var repetitionPenalty: Double?
    var logitBias: [String: Double]?
    var seed: Int64?
    var stop: StopField?
    var stopTokenIds: [Int]?
    var ignoreEOS: Bool?
    var minTokens: Int?
    var includeStopStrInOutput: Bool?
    var skipSpecialTokens: Bool?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var user: String?

    enum CodingKeys: String, CodingKey {
        case n, temperature, seed, stop, stream, user
        case topP = "top_p", topK = "top_k", minP = "min_p"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case repetitionPenalty = "repetition_penalty", logitBias = "logit_bias"
        case stopTokenIds = "stop_token_ids", ignoreEOS = "ignore_eos", minTokens = "min_tokens"
        case includeStopStrInOutput = "include_stop_str_in_output", skipSpecialTokens = "skip_special_tokens"
        case streamOptions = "stream_options"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decodeInteger(.n)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        topK = try c.decodeInteger(.topK)
        minP = try c.decodeIfPresent(Double.self, forKey: .minP)
        presencePenalty = try c.decodeIfPresent(Double.self, forKey: .presencePenalty)
        frequencyPenalty = try c.decodeIfPresent(Double.self, forKey: .frequencyPenalty)
        repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty)
        logitBias = try c.decodeIfPresent([String: Double].self, forKey: .logitBias)
        seed = try c.decodeInteger(.seed).map(Int64.init)
        stop = try c.decodeIfPresent(StopField.self, forKey: .stop)
        stopTokenIds = try c.decodeIfPresent([Int].self, forKey: .stopTokenIds)
        ignoreEOS = try c.decodeIfPresent(Bool.self, forKey: .ignoreEOS)
        minTokens = try c.decodeInteger(.minTokens)
        includeStopStrInOutput = try c.decodeIfPresent(Bool.self, forKey: .includeStopStrInOutput)
        skipSpecialTokens = try c.decodeIfPresent(Bool.self, forKey: .skipSpecialTokens)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        user = try c.decodeIfPresent(String.self, forKey: .user)
    }

    var isStreaming: Bool { stream ?? false }
    var includeUsage: Bool { streamOptions?.includeUsage ?? false }

    /// The engine's parameters for these fields, checked against the server's caps and the
    /// engine's rules; every problem is a 400 naming the field.
    func samplingParams(maxTokens: Int?, maxTokensField: String, logprobs: Int?, logprobsField: String,
                        limits: ServerConfiguration, vocabSize: Int) throws(OpenAIError) -> SamplingParams {
        let n = n ?? 1
        guard (1...limits.maxN).contains(n) else {
            throw .invalidRequest("n must be between 1 and \(limits.maxN), got \(n).", param: "n")
        }
        if let logprobs, !(0...limits.maxLogprobs).contains(logprobs) {
            throw .invalidRequest("\(logprobsField) must be between 0 and \(limits.maxLogprobs), got \(logprobs).", param: logprobsField)
        }
        if let maxTokens, maxTokens < 1 {
            throw .invalidRequest("\(maxTokensField) must be at least 1, got \(maxTokens).", param: maxTokensField)
        }
        var params = SamplingParams(
            n: n, temperature: Float(temperature ?? 1), topK: topK ?? 0, topP: Float(topP ?? 1), minP: Float(minP ?? 0),
            presencePenalty: Float(presencePenalty ?? 0), frequencyPenalty: Float(frequencyPenalty ?? 0),
            repetitionPenalty: Float(repetitionPenalty ?? 1), logitBias: try parsedLogitBias(),
            seed: seed.map { UInt64(bitPattern: $0) }, maxTokens: maxTokens, minTokens: minTokens ?? 0,
            stop: stop?.strings ?? [], stopTokenIds: stopTokenIds ?? [], ignoreEOS: ignoreEOS ?? false,
            includeStopStrInOutput: includeStopStrInOutput ?? false, logprobs: logprobs,
            skipSpecialTokens: skipSpecialTokens ?? true)
        if params.topK == -1 { params.topK = 0 }
        do {
            try params.validate(vocabSize: vocabSize)
        } catch {
            var field = error.field
            if field == "max_tokens" { field = maxTokensField }
            if field == "logprobs" { field = logprobsField }
            throw .invalidRequest(error.description.replacingFirst(error.field, with: field), param: field)
        }
        return params
    }

    private func parsedLogitBias() throws(OpenAIError) -> [Int: Float] {
        var bias: [Int: Float] = [:]
        for (key, value) in logitBias ?? [:] {
            guard let id = Int(key) else {
                throw .invalidRequest("logit_bias keys must be token ids, got '\(key)'.", param: "logit_bias")
            }
            guard (-100...100).contains(value) else {
                throw .invalidRequest("logit_bias values must be between -100 and 100, got \(value).", param: "logit_bias")
            }
            bias[id] = Float(value)
        }
        return bias
    }
}

extension KeyedDecodingContainer {
    /// An optional integer field; a number with a fraction is a type error that names the field
    /// (JSONDecoder's own error for it carries no coding path).
    func decodeInteger(_ key: Key) throws -> Int? {
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value }
        if let number = try? decodeIfPresent(Double.self, forKey: key) {
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: codingPath + [key],
                                                             debugDescription: "expected an integer, got \(number)"))
        }
        return try decodeIfPresent(Int.self, forKey: key)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + self[range.upperBound...]
    }
}
