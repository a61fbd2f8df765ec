import Engine
import Foundation
import StructuredOutput
import Hummingbird

/// `POST /v1/chat/completions`.
extension OpenAIServer {
    private struct ChatOptions: Sendable {
        /// `top_logprobs` when `logprobs` is true.
        var topLogprobs: Int?
        var includeUsage: Bool
        var created: Int
        /// How the output is read for tool calls; nil without tools.
        var tools: ToolPlan?
    }

    func chatCompletions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        var request = request
        let (body, raw) = try await JSONRequestBody.decodeWithRaw(ChatCompletionRequest.self, from: &request,
                                                                  limit: configuration.maxRequestBodySize)
        try checkModel(body.model)
        if body.topLogprobs != nil && body.logprobs != true {
            throw OpenAIError.invalidRequest("top_logprobs needs logprobs to be true.", param: "top_logprobs")
        }
        let tools = try ToolPlan(tools: body.tools, choice: body.toolChoice, parallel: body.parallelToolCalls, raw: raw)
        var constraint = try body.structured.constraint(raw: raw)
        if let forced = tools?.constraint {
            if let constraint {
                throw OpenAIError.invalidRequest("tool_choice \(body.toolChoice.map { "\($0)" } ?? "") cannot be combined with \(constraint.param).",
                                                 param: constraint.param)
            }
            constraint = (forced, "tools")
        }
        try checkConstraint(constraint)
        let prompt = try chatPromptTokens(body.messages, addGenerationPrompt: body.addGenerationPrompt ?? true, tools: tools)
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens
        let maxTokensField = body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
        let topLogprobs = body.logprobs == true ? body.topLogprobs ?? 0 : nil
        var params = try body.sampling.samplingParams(maxTokens: maxTokens, maxTokensField: maxTokensField, logprobs: topLogprobs,
                                                      logprobsField: "top_logprobs", limits: configuration, vocabSize: tokenizer.vocabSize)
        params.structuredOutputs = constraint?.params
        params.kvTransferParams = try raw.kvTransferParams()
        try checkKVTransfer(params.kvTransferParams)
        if tools?.choice == .auto && toolCallParser.readsSpecialTokens { params.skipSpecialTokens = false }
        try checkContext(promptTokens: prompt.count, maxTokens: maxTokens, maxTokensField: maxTokensField, promptField: "messages")
        let run = try GenerationRun(id: Self.requestId("chatcmpl-"), prompts: [prompt], params: params, engine: engine, tracker: tracker, metrics: metrics)
        let options = ChatOptions(topLogprobs: topLogprobs, includeUsage: body.sampling.includeUsage,
                                  created: Int(Date().timeIntervalSince1970), tools: tools)
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
            var message: JSON = ["role": "assistant", "content": .string(result.text)]
            var finishReason = result.finishReason?.rawValue
            if let plan = options.tools, plan.callsTools {
                let parsed = plan.parse(result.text, parser: toolCallParser)
                var pairs: [(String, JSON)] = [("role", "assistant"), ("content", .optional(parsed.content))]
                if !parsed.toolCalls.isEmpty {
                    pairs.append(("tool_calls", .array(parsed.toolCalls.map { call in
                        ["id": .string(ToolPlan.callId()), "type": "function",
                         "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                    })))
                    if finishReason == "stop", plan.endsWithToolCalls { finishReason = "tool_calls" }
                }
                message = .object(pairs)
            }
            return ["index": .int(result.index), "message": message,
                    "logprobs": logprobs, "finish_reason": .optional(finishReason),
                    "stop_reason": result.stopReason?.json ?? .null]
        }
        var pairs: [(String, JSON)] = [
            ("id", .string(run.id)), ("object", "chat.completion"), ("created", .int(options.created)),
            ("model", .string(configuration.servedModelName)), ("choices", .array(choices)),
            ("usage", Self.usage(promptTokens: run.promptTokenIds[0].count,
                                 completionTokens: results.reduce(0) { $0 + $1.tokenIds.count }, cachedTokens: cached))]
        if let transfer = responseKVTransferParams(run.params.kvTransferParams) { pairs.append(("kv_transfer_params", transfer)) }
        return .object(pairs)
    }

    private func streamChat(_ run: GenerationRun, _ options: ChatOptions, writer: inout any ResponseBodyWriter) async throws {
        let formatter = LogprobsFormatter(tokenizer: tokenizer)
        for index in 0..<run.params.n {
            let role: JSON = ["index": .int(index), "delta": ["role": "assistant", "content": ""], "logprobs": nil, "finish_reason": nil]
            try await writer.write(ServerSentEvents.event(chatChunk(run, options, choices: [role], usage: nil)))
        }
        var completionTokens = 0
        var cached = 0
        let plan = options.tools.flatMap { $0.callsTools ? $0 : nil }
        var streamers = plan.map { plan in (0..<run.params.n).map { _ in plan.makeStreamer(parser: toolCallParser) } } ?? []
        var madeCalls = [Bool](repeating: false, count: run.params.n)
        try await consume(run) { choice, _, piece, output in
            completionTokens += piece.tokenIds.count
            cached = max(cached, output.numCachedTokens)
            var delta: [(String, JSON)] = []
            if plan != nil {
                var deltas = streamers[choice].feed(piece.text)
                if piece.finishReason != nil { deltas += streamers[choice].finish() }
                let (content, calls) = Self.toolDeltaJSON(deltas)
                if !content.isEmpty { delta.append(("content", .string(content))) }
                if !calls.isEmpty {
                    delta.append(("tool_calls", .array(calls)))
                    madeCalls[choice] = true
                }
            } else if !piece.text.isEmpty {
                delta.append(("content", .string(piece.text)))
            }
            let hasLogprobs = options.topLogprobs != nil && !(piece.logprobs ?? []).isEmpty
            guard !delta.isEmpty || hasLogprobs || piece.finishReason != nil else { return }
            var logprobs = JSON.null
            if let topN = options.topLogprobs { logprobs = ["content": .array(formatter.chatLogprobs(piece.logprobs ?? [], topN: topN))] }
            var finishReason = piece.finishReason?.rawValue
            if finishReason == "stop", madeCalls[choice], plan?.endsWithToolCalls == true { finishReason = "tool_calls" }
            let choiceJSON: JSON = ["index": .int(choice), "delta": .object(delta), "logprobs": logprobs,
                                    "finish_reason": .optional(finishReason), "stop_reason": piece.stopReason?.json ?? .null]
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

    /// Content text and OpenAI `tool_calls` delta entries for streamer output: a call's first
    /// entry has its id, type and name, later ones carry argument fragments.
    private static func toolDeltaJSON(_ deltas: [ToolCallDelta]) -> (content: String, calls: [JSON]) {
        var content = ""
        var calls: [JSON] = []
        for delta in deltas {
            switch delta {
            case .content(let text):
                content += text
            case .toolCallStart(let index, let id, let name):
                calls.append(["index": .int(index), "id": .string(id ?? ToolPlan.callId()), "type": "function",
                              "function": ["name": .string(name), "arguments": ""]])
            case .arguments(let index, let fragment):
                calls.append(["index": .int(index), "function": ["arguments": .string(fragment)]])
            }
        }
        return (content, calls)
    }

    /// Compiles a request's output constraint now (it is cached for the engine), so a schema or
    /// grammar that cannot be enforced is a 400 naming the field and the construct.
    func checkConstraint(_ constraint: (params: StructuredOutputsParams, param: String)?) throws(OpenAIError) {
        guard let constraint else { return }
        do {
            _ = try engine.inputProcessor.structuredOutputs.compile(constraint.params)
        } catch {
            throw .invalidRequest("The \(constraint.params.kind) constraint in \(constraint.param) cannot be enforced: \(error).",
                                  param: constraint.param)
        }
    }
}
