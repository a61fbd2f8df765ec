import Foundation
import Hummingbird

/// `POST /tokenize` and `POST /detokenize` (vLLM's shapes; llama.cpp's `content` is accepted too).
extension OpenAIServer {
    private struct TokenizeRequest: Decodable {
        var model: String?
        var prompt: String?
        var content: String?
        var messages: [ChatMessageField]?
        var addSpecialTokens: Bool?
        var addGenerationPrompt: Bool?
        var returnTokenStrs: Bool?

        enum CodingKeys: String, CodingKey {
            case model, prompt, content, messages
            case addSpecialTokens = "add_special_tokens", addGenerationPrompt = "add_generation_prompt"
            case returnTokenStrs = "return_token_strs"
        }
    }

    private struct DetokenizeRequest: Decodable {
        var model: String?
        var tokens: [Int]
    }

    func tokenize(_ request: Request) async throws -> Response {
        var request = request
        let body = try await JSONRequestBody.decode(TokenizeRequest.self, from: &request, limit: configuration.maxRequestBodySize)
        try checkModel(body.model)
        let ids: [Int]
        if let messages = body.messages {
            ids = try chatPromptTokens(messages, addGenerationPrompt: body.addGenerationPrompt ?? true)
        } else if let text = body.prompt ?? body.content {
            ids = tokenizer.encode(text, addSpecial: body.addSpecialTokens ?? true, parseSpecial: true)
        } else {
            throw OpenAIError.invalidRequest("Give 'prompt' (text) or 'messages'.", param: "prompt")
        }
        var response: [(String, JSON)] = [("count", .int(ids.count)), ("max_model_len", .int(maxModelLength)),
                                          ("tokens", .array(ids.map { .int($0) }))]
        if body.returnTokenStrs == true {
            let formatter = LogprobsFormatter(tokenizer: tokenizer)
            response.append(("token_strs", .array(ids.map { .string(formatter.tokenText($0)) })))
        }
        return Self.json(.object(response))
    }

    func detokenize(_ request: Request) async throws -> Response {
        var request = request
        let body = try await JSONRequestBody.decode(DetokenizeRequest.self, from: &request, limit: configuration.maxRequestBodySize)
        try checkModel(body.model)
        if let bad = body.tokens.first(where: { $0 < 0 || $0 >= tokenizer.vocabSize }) {
            throw OpenAIError.invalidRequest("Token id \(bad) is outside the vocabulary (0..<\(tokenizer.vocabSize)).", param: "tokens")
        }
        return Self.json(["prompt": .string(tokenizer.decode(body.tokens))])
    }
}
