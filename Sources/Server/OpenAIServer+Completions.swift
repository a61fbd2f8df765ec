import Engine
import Foundation
import Hummingbird

/// `POST /v1/completions`.
extension OpenAIServer {
    /// What a completions response echoes and reports, besides the generated text.
    private struct CompletionOptions: Sendable {
        /// The prompt text per prompt, when `echo` is set.
        var echoTexts: [String]?
        /// Whether log-probabilities were asked for.
        var logprobs: Bool
        var includeUsage: Bool
        var created: Int
    }

    func completions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        var request = request
        let (body, raw) = try await JSONRequestBody.decodeWithRaw(CompletionRequest.self, from: &request,
                                                                  limit: configuration.maxRequestBodySize)
        try checkModel(body.model)
        let constraint = try body.structured.constraint(raw: raw)
        try checkConstraint(constraint)
        if let bestOf = body.bestOf, bestOf != (body.sampling.n ?? 1) {
            throw OpenAIError.invalidRequest("best_of must be left out or equal n: every completion generated is returned.", param: "best_of")
        }
        if let suffix = body.suffix, !suffix.isEmpty { throw OpenAIError.invalidRequest("suffix is not supported.", param: "suffix") }
        let (prompts, texts) = try completionPromptTokens(body.prompt)
        let maxTokens = body.maxTokens ?? 16
        var params = try body.sampling.samplingParams(maxTokens: maxTokens, maxTokensField: "max_tokens", logprobs: body.logprobs,
                                                      logprobsField: "logprobs", limits: configuration, vocabSize: tokenizer.vocabSize)
        params.structuredOutputs = constraint?.params
        params.kvTransferParams = try raw.kvTransferParams()
        try checkKVTransfer(params.kvTransferParams)
        let echo = body.echo ?? false
        if echo, let logprobs = body.logprobs { params.promptLogprobs = logprobs }
        for (i, p) in prompts.enumerated() {
            try checkContext(promptTokens: p.count, maxTokens: maxTokens, maxTokensField: "max_tokens",
                             promptField: prompts.count > 1 ? "prompt[\(i)]" : "prompt")
        }
        let run = try GenerationRun(id: Self.requestId("cmpl-"), prompts: prompts, params: params, engine: engine, tracker: tracker, metrics: metrics)
        let options = CompletionOptions(
            echoTexts: echo ? texts.enumerated().map { $1 ?? tokenizer.decode(prompts[$0]) } : nil, logprobs: body.logprobs != nil,
            includeUsage: body.sampling.includeUsage, created: Int(Date().timeIntervalSince1970))
        if body.sampling.isStreaming {
            return eventStreamResponse(context, run: run) { writer in try await self.streamCompletion(run, options, writer: &writer) }
        }
        return try await collectedResponse(context, run: run) { try await self.completionResult(run, options) }
    }

    private func completionResult(_ run: GenerationRun, _ options: CompletionOptions) async throws -> JSON {
        let n = run.params.n
        var results = (0..<(run.promptTokenIds.count * n)).map { CompletionResult(index: $0) }
        var promptLogprobs = [[TokenLogprobs?]](repeating: [], count: run.promptTokenIds.count)
        var cached = [Int](repeating: 0, count: run.promptTokenIds.count)
        try await consume(run) { choice, prompt, piece, output in
            results[choice].append(piece)
            if piece.index == 0, let entries = output.promptLogprobs { promptLogprobs[prompt] += entries }
            cached[prompt] = max(cached[prompt], output.numCachedTokens)
        }
        let formatter = LogprobsFormatter(tokenizer: tokenizer)
        let choices: [JSON] = results.enumerated().map { choice, result in
            let prompt = choice / n
            var logprobs = JSON.null
            if options.logprobs {
                var entries: [TokenLogprobs?] = []
                var ids: [Int] = []
                if options.echoTexts != nil {
                    ids = run.promptTokenIds[prompt]
                    entries = Self.padded(promptLogprobs[prompt], to: ids.count)
                }
                entries += result.logprobs.map { Optional($0) }
                ids += result.tokenIds
                var offset = 0
                logprobs = formatter.completionLogprobs(entries, tokenIds: ids, offset: &offset)
            }
            return ["index": .int(choice), "text": .string((options.echoTexts?[prompt] ?? "") + result.text), "logprobs": logprobs,
                    "finish_reason": .optional(result.finishReason?.rawValue), "stop_reason": result.stopReason?.json ?? .null]
        }
        let completionTokens = results.reduce(0) { $0 + $1.tokenIds.count }
        var pairs: [(String, JSON)] = [
            ("id", .string(run.id)), ("object", "text_completion"), ("created", .int(options.created)),
            ("model", .string(configuration.servedModelName)), ("choices", .array(choices)),
            ("usage", Self.usage(promptTokens: run.promptTokenIds.reduce(0) { $0 + $1.count }, completionTokens: completionTokens,
                                 cachedTokens: cached.reduce(0, +)))]
        if let transfer = responseKVTransferParams(run.params.kvTransferParams) { pairs.append(("kv_transfer_params", transfer)) }
        return .object(pairs)
    }

    private func streamCompletion(_ run: GenerationRun, _ options: CompletionOptions, writer: inout any ResponseBodyWriter) async throws {
        let formatter = LogprobsFormatter(tokenizer: tokenizer)
        var promptLogprobs = [[TokenLogprobs?]](repeating: [], count: run.promptTokenIds.count)
        var echoed: Set<Int> = []
        var offsets: [Int: Int] = [:]
        var completionTokens = 0
        var cached = [Int](repeating: 0, count: run.promptTokenIds.count)
        try await consume(run) { choice, prompt, piece, output in
            if piece.index == 0, let entries = output.promptLogprobs { promptLogprobs[prompt] += entries }
            cached[prompt] = max(cached[prompt], output.numCachedTokens)
            completionTokens += piece.tokenIds.count
            guard !piece.tokenIds.isEmpty || piece.finishReason != nil else { return }
            var text = piece.text
            var entries: [TokenLogprobs?] = (piece.logprobs ?? []).map { Optional($0) }
            var ids = piece.tokenIds
            if let echoTexts = options.echoTexts, echoed.insert(choice).inserted {
                text = echoTexts[prompt] + text
                ids = run.promptTokenIds[prompt] + ids
                entries = Self.padded(promptLogprobs[prompt], to: run.promptTokenIds[prompt].count) + entries
            }
            var logprobs = JSON.null
            if options.logprobs {
                var offset = offsets[choice] ?? 0
                logprobs = formatter.completionLogprobs(entries, tokenIds: ids, offset: &offset)
                offsets[choice] = offset
            }
            guard !text.isEmpty || options.logprobs || piece.finishReason != nil else { return }
            let choiceJSON: JSON = ["index": .int(choice), "text": .string(text), "logprobs": logprobs,
                                    "finish_reason": .optional(piece.finishReason?.rawValue), "stop_reason": piece.stopReason?.json ?? .null]
            try await writer.write(ServerSentEvents.event(completionChunk(run, options, choices: [choiceJSON], usage: nil)))
        }
        if options.includeUsage {
            let usage = Self.usage(promptTokens: run.promptTokenIds.reduce(0) { $0 + $1.count }, completionTokens: completionTokens,
                                   cachedTokens: cached.reduce(0, +))
            try await writer.write(ServerSentEvents.event(completionChunk(run, options, choices: [], usage: usage)))
        }
    }

    private func completionChunk(_ run: GenerationRun, _ options: CompletionOptions, choices: [JSON], usage: JSON?) -> JSON {
        var pairs: [(String, JSON)] = [("id", .string(run.id)), ("object", "text_completion"), ("created", .int(options.created)),
                                       ("model", .string(configuration.servedModelName)), ("choices", .array(choices))]
        if options.includeUsage { pairs.append(("usage", usage ?? .null)) }
        return .object(pairs)
    }

    /// `entries` cut or padded with nil to `count` (one per prompt token).
    static func padded(_ entries: [TokenLogprobs?], to count: Int) -> [TokenLogprobs?] {
        Array(entries.prefix(count)) + [TokenLogprobs?](repeating: nil, count: max(0, count - entries.count))
    }
}
