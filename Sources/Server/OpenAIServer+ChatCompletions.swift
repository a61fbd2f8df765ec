import Engine
import Foundation
import Hummingbird

/// `POST /v1/chat/completions`.
extension OpenAIServer {
    private struct ChatOptions: Sendable {
        /// `top_logprobs` when `logprobs` is true.
        var topLogprobs: Int?
        var includeUsage: Bool
        var created: Int
    }

    func chatCompletions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        var request = request
        let body = try await JSONRequestBody.decode(ChatCompletionRequest.self, from: &request, limit: configuration.maxRequestBodySize)
        try checkModel(body.model)
        if let tools = body.tools, !tools.isEmpty {
            throw OpenAIError.invalidRequest("Tool calling is not supported by this server.", param: "tools")
        }
        if body.topLogprobs != nil && body.logprobs != true {
            throw OpenAIError.invalidRequest("top_logprobs needs logprobs to be true.", param: "top_logprobs")
        }
        let prompt = try chatPromptTokens(body.messages, addGenerationPrompt: body.addGenerationPrompt ?? true)
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens
        let maxTokensField = body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
        let topLogprobs = body.logprobs == true ? body.topLogprobs ?? 0 : nil
        let params = try body.sampling.samplingParams(maxTokens: maxTokens, maxTokensField: maxTokensField, logprobs: topLogprobs,
                                                      logprobsField: "top_logprobs", limits: configuration, vocabSize: tokenizer.vocabSize)
        try checkContext(promptTokens: prompt.count, maxTokens: maxTokens, maxTokensField: maxTokensField, promptField: "messages")
        let run = try GenerationRun(id: Self.requestId("chatcmpl-"), prompts: [prompt], params: params, engine: engine, tracker: tracker, metrics: metrics)
        let options = ChatOptions(topLogprobs: topLogprobs, includeUsage: body.sampling.includeUsage,
                                  created: Int(Date().timeIntervalSince1970))
        if body.sampling.isStreaming {
            return eventStreamResponse(context, run: run) { writer in try await self.streamChat(run, options, writer: &writer) }
        }
        return try await collectedResponse(context, run: run) { try await self.chatResult(run, options) }
    }

    private func chatResult(_ run: GenerationRun, _ options: ChatOptions) async throws -> JSON {
        var results = (0..<run.params.n).map { CompletionResult(index: $0) }
        var cached = 0
        try await consume(run) { choice, _, piece, output in
            results[choice].append(piece)
            cached = max(cached, output.numCachedTokens)
        }
        let formatter = LogprobsFormatter(tokenizer: tokenizer)
        let choices: [JSON] = results.map { result in
            let logprobs: JSON = options.topLogprobs.map { ["content": .array(formatter.chatLogprobs(result.logprobs, topN: $0))] } ?? .null
            return ["index": .int(result.index), "message": ["role": "assistant", "content": .string(result.text)],
                    "logprobs": logprobs, "finish_reason": .optional(result.finishReason?.rawValue),
                    "stop_reason": result.stopReason?.json ?? .null]
        }
        return ["id": .string(run.id), "object": "chat.completion", "created": .int(options.created),
                "model": .string(configuration.servedModelName), "choices": .array(choices),
                "usage": Self.usage(promptTokens: run.promptTokenIds[0].count,
                                    completionTokens: results.reduce(0) { $0 + $1.tokenIds.count }, cachedTokens: cached)]
    }

    private func streamChat(_ run: GenerationRun, _ options: ChatOptions, writer: inout any ResponseBodyWriter) async throws {
        let formatter = LogprobsFormatter(tokenizer: tokenizer)
        for index in 0..<run.params.n {
            let role: JSON = ["index": .int(index), "delta": ["role": "assistant", "content": ""], "logprobs": nil, "finish_reason": nil]
            try await writer.write(ServerSentEvents.event(chatChunk(run, options, choices: [role], usage: nil)))
        }
        var completionTokens = 0
        var cached = 0
        try await consume(run) { choice, _, piece, output in
            completionTokens += piece.tokenIds.count
            cached = max(cached, output.numCachedTokens)
            let hasLogprobs = options.topLogprobs != nil && !(piece.logprobs ?? []).isEmpty
            guard !piece.text.isEmpty || hasLogprobs || piece.finishReason != nil else { return }
            let delta: JSON = piece.text.isEmpty && piece.finishReason != nil ? [:] : ["content": .string(piece.text)]
            var logprobs = JSON.null
            if let topN = options.topLogprobs { logprobs = ["content": .array(formatter.chatLogprobs(piece.logprobs ?? [], topN: topN))] }
            let choiceJSON: JSON = ["index": .int(choice), "delta": delta, "logprobs": logprobs,
                                    "finish_reason": .optional(piece.finishReason?.rawValue), "stop_reason": piece.stopReason?.json ?? .null]
            try await writer.write(ServerSentEvents.event(chatChunk(run, options, choices: [choiceJSON], usage: nil)))
        }
        if options.includeUsage {
            let usage = Self.usage(promptTokens: run.promptTokenIds[0].count, completionTokens: completionTokens, cachedTokens: cached)
            try await writer.write(ServerSentEvents.event(chatChunk(run, options, choices: [], usage: usage)))
        }
    }

    private func chatChunk(_ run: GenerationRun, _ options: ChatOptions, choices: [JSON], usage: JSON?) -> JSON {
        var pairs: [(String, JSON)] = [("id", .string(run.id)), ("object", "chat.completion.chunk"), ("created", .int(options.created)),
                                       ("model", .string(configuration.servedModelName)), ("choices", .array(choices))]
        if options.includeUsage { pairs.append(("usage", usage ?? .null)) }
        return .object(pairs)
    }
}
