/// The body of `POST /v1/completions`.
struct CompletionRequest: Decodable, Sendable {
    var model: String?
    var prompt: PromptField
    var maxTokens: Int?
    var echo: Bool?
    /// How many top alternatives to return per token (the legacy API's integer).
    var logprobs: Int?
    var bestOf: Int?
    var suffix: String?
    var sampling: SamplingFields
    var structured: StructuredOutputFields

    enum CodingKeys: String, CodingKey {
        case model, prompt, echo, logprobs, suffix
        case maxTokens = "max_tokens", bestOf = "best_of"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        prompt = try c.decode(PromptField.self, forKey: .prompt)
        maxTokens = try c.decodeInteger(.maxTokens)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        logprobs = try c.decodeInteger(.logprobs)
        bestOf = try c.decodeInteger(.bestOf)
        suffix = try c.decodeIfPresent(String.self, forKey: .suffix)
        sampling = try SamplingFields(from: decoder)
        structured = try StructuredOutputFields(from: decoder)
    }
}
