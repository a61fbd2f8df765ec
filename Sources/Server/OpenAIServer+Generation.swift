import Engine
import Foundation
import Hummingbird
import Tokenization

extension OpenAIServer {
    /// Runs `run` to the end, calling `body` with every completion piece and its choice index
    /// (`prompt * n + index`), and records the latency metrics.
    func consume(_ run: GenerationRun,
                 _ body: (_ choice: Int, _ prompt: Int, _ piece: CompletionOutput, _ output: RequestOutput) async throws -> Void) async throws {
        var lastTokenTime: [Int: Double] = [:]
        try await run.forEachOutput { prompt, output in
            let now = Date().timeIntervalSinceReferenceDate
            for piece in output.outputs {
                let choice = prompt * run.params.n + piece.index
                if !piece.tokenIds.isEmpty {
                    if let last = lastTokenTime[choice] {
                        metrics.recordInterTokenLatency(seconds: now - last, tokens: piece.tokenIds.count)
                    }
                    lastTokenTime[choice] = now
                }
                if let reason = piece.finishReason {
                    metrics.recordFinished(output.metrics, promptTokens: run.promptTokenIds[prompt].count, finishReason: reason)
                }
                try await body(choice, prompt, piece, output)
            }
        }
    }

    /// Runs `operation`, cancelling it when the client goes away first (so its requests are
    /// aborted and their KV blocks freed at once). Otherwise the connection stays open for the
    /// client's next request.
    /// With `--request-timeout`, a run still going at the deadline is cancelled the same way and
    /// answered with ``OpenAIError/requestTimeout(seconds:)``.
    func cancellingOnDisconnect<T: Sendable>(_ context: ServerRequestContext, _ operation: () async throws -> T) async throws -> T {
        let watcher = await context.disconnectWatcher
        let timeout = configuration.requestTimeout
        if watcher == nil && timeout == nil { return try await operation() }
        return try await withoutActuallyEscaping(operation) { operation in
            let (disconnected, signal) = AsyncStream<Void>.makeStream()
            let key = watcher?.onDisconnect { signal.finish() }
            defer { watcher?.remove(key) }
            let work = UncheckedSendable(operation)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                if watcher != nil {
                    group.addTask {
                        for await _ in disconnected {}
                        return nil
                    }
                }
                if let timeout {
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw OpenAIError.requestTimeout(seconds: timeout.seconds)
                    }
                }
                group.addTask { try await work.value() }
                defer { group.cancelAll() }
                guard case .some(.some(let value)) = try await group.next() else { throw CancellationError() }
                return value
            }
        }
    }

    /// A non-streaming answer: collects the run while watching the connection, on the
    /// connection's event loop (``EventLoopTaskExecutor``).
    func collectedResponse(_ context: ServerRequestContext, run: GenerationRun, _ collect: () async throws -> JSON) async throws -> Response {
        defer { run.cancel() }
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(context.channel.eventLoop)) {
            Self.json(try await cancellingOnDisconnect(context) { try await collect() })
        }
    }

    /// A streaming answer: `produce` writes the events, on the connection's event loop
    /// (``EventLoopTaskExecutor``); an engine error ends the stream with an error event; a
    /// disconnect aborts the run; past `--request-timeout` the stream ends with a
    /// `request_timeout` error event.
    func eventStreamResponse(_ context: ServerRequestContext, run: GenerationRun,
                             _ produce: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        let executor = EventLoopTaskExecutor(context.channel.eventLoop)
        return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
            try await withTaskExecutorPreference(executor) { try await self.writeEvents(context, run: run, produce, to: &writer) }
        })
    }

    private func writeEvents(_ context: ServerRequestContext, run: GenerationRun,
                             _ produce: @Sendable (inout any ResponseBodyWriter) async throws -> Void,
                             to writer: inout any ResponseBodyWriter) async throws {
        defer { run.cancel() }
        do {
            try await self.cancellingOnDisconnect(context) {
                do {
                    try await produce(&writer)
                } catch is CancellationError {
                    throw CancellationError()
                } catch let error as OpenAIError {
                    try await writer.write(ServerSentEvents.event(error.json))
                } catch {
                    self.logger.warning("stream \(run.id) failed: \(error)")
                    try await writer.write(ServerSentEvents.event(OpenAIError(status: .internalServerError, message: "\(error)",
                                                                              type: "server_error").json))
                }
                try await writer.write(ServerSentEvents.done)
            }
        } catch let error as OpenAIError {
            try await writer.write(ServerSentEvents.event(error.json))
            try await writer.write(ServerSentEvents.done)
        }
        try await writer.finish(nil)
    }

    /// Token ids of a chat conversation rendered with the chat template.
    ///
    /// With tools, a template that knows them gets them as its `tools` variable and the turns'
    /// `tool_calls` as they are. A template that does not (it never mentions `tool_call`) gets
    /// the Hermes format written into the conversation instead: the functions in the system
    /// prompt, earlier calls as `<tool_call>` blocks, results as `<tool_response>` blocks.
    func chatPromptTokens(_ messages: [ChatMessageField], addGenerationPrompt: Bool, tools: ToolPlan? = nil) throws(OpenAIError) -> [Int] {
        let (conversation, variables) = try Self.conversation(messages, tools: tools,
                                                              templateKnowsTools: chatTemplate.source?.contains("tool_call") ?? false)
        do throws(ChatTemplateError) {
            return try tokenizer.encodeChat(conversation, template: chatTemplate, addGenerationPrompt: addGenerationPrompt,
                                            variables: variables)
        } catch .raised(let message) {
            throw .invalidRequest(message, param: "messages")
        } catch .missing {
            throw .invalidRequest("This model has no chat template (it is a base model): use /v1/completions, or start the server with --chat-template FILE.",
                                  param: "messages")
        } catch {
            throw .invalidRequest("The chat template could not render these messages: \(error)", param: "messages")
        }
    }

    /// The conversation and template variables for `messages` and `tools` (see
    /// ``chatPromptTokens(_:addGenerationPrompt:tools:)``).
    static func conversation(_ messages: [ChatMessageField], tools: ToolPlan?,
                             templateKnowsTools: Bool) throws(OpenAIError) -> (messages: [ChatMessage], variables: [String: JinjaValue]) {
        guard !messages.isEmpty else { throw .invalidRequest("messages must not be empty.", param: "messages") }
        var conversation: [ChatMessage] = []
        for (i, message) in messages.enumerated() {
            switch message.role {
            case "system", "user":
                conversation.append(ChatMessage(role: message.role, content: message.content, name: message.name))
            case "developer":
                conversation.append(.system(message.content))
            case "assistant":
                let calls = message.toolCalls.map { ChatToolCall(id: $0.id ?? ToolPlan.callId(), name: $0.function.name, arguments: $0.function.arguments) }
                if templateKnowsTools || calls.isEmpty {
                    conversation.append(ChatMessage(role: "assistant", content: message.content, toolCalls: calls))
                } else {
                    let blocks = calls.map { "<tool_call>\n{\"name\": \(JinjaValue.string($0.name).compactJSON ?? "\"\""), \"arguments\": \($0.arguments)}\n</tool_call>" }
                    conversation.append(.assistant(([message.content] + blocks).filter { !$0.isEmpty }.joined(separator: "\n")))
                }
            case "tool":
                if templateKnowsTools {
                    conversation.append(ChatMessage(role: "tool", content: message.content, toolCallId: message.toolCallId, name: message.name))
                } else {
                    conversation.append(.user("<tool_response>\n\(message.content)\n</tool_response>"))
                }
            default:
                throw .invalidRequest("Invalid role '\(message.role)': supported roles are system, developer, user, assistant and tool.",
                                      param: "messages[\(i)].role")
            }
        }
        var variables: [String: JinjaValue] = [:]
        if let tools, tools.callsTools {
            if templateKnowsTools {
                variables["tools"] = tools.templateValue
            } else if conversation.first?.role == "system" {
                conversation[0].content += "\n\n" + tools.systemPrompt
            } else {
                conversation.insert(.system(tools.systemPrompt), at: 0)
            }
        }
        return (conversation, variables)
    }

    /// Token ids of each prompt of a completion request, checked against the vocabulary.
    func completionPromptTokens(_ prompt: PromptField) throws(OpenAIError) -> (ids: [[Int]], texts: [String?]) {
        switch prompt {
        case .texts(let texts):
            guard !texts.isEmpty else { throw .invalidRequest("prompt must not be empty.", param: "prompt") }
            let ids = texts.map { tokenizer.encode($0, addSpecial: true, parseSpecial: true) }
            for (i, p) in ids.enumerated() where p.isEmpty {
                throw .invalidRequest("prompt must not be empty.", param: texts.count > 1 ? "prompt[\(i)]" : "prompt")
            }
            return (ids, texts)
        case .tokenLists(let lists):
            guard !lists.isEmpty else { throw .invalidRequest("prompt must not be empty.", param: "prompt") }
            for (i, list) in lists.enumerated() {
                let param = lists.count > 1 ? "prompt[\(i)]" : "prompt"
                guard !list.isEmpty else { throw .invalidRequest("prompt must not be empty.", param: param) }
                if let bad = list.first(where: { $0 < 0 || $0 >= tokenizer.vocabSize }) {
                    throw .invalidRequest("Token id \(bad) is outside the vocabulary (0..<\(tokenizer.vocabSize)).", param: param)
                }
            }
            return (lists, lists.map { _ in nil })
        }
    }

    /// Prompt, completion and total token counts (and prompt tokens served from the prefix cache).
    static func usage(promptTokens: Int, completionTokens: Int, cachedTokens: Int) -> JSON {
        ["prompt_tokens": .int(promptTokens), "total_tokens": .int(promptTokens + completionTokens),
         "completion_tokens": .int(completionTokens), "prompt_tokens_details": ["cached_tokens": .int(cachedTokens)]]
    }
}

extension StopReason {
    /// vLLM's `stop_reason`: the stop string or stop token id that ended the completion
    /// (null for end-of-sequence, length and abort).
    var json: JSON {
        switch self {
        case .string(let s): .string(s)
        case .token(let id): .int(id)
        case .eos: .null
        }
    }
}

/// Carries a value the compiler cannot prove `Sendable` into a child task that is awaited
/// before the value's scope ends.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
