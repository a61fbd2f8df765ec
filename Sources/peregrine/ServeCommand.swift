import ArgumentParser
import Engine
import KVTransfer
import Foundation
import Logging
import ModelHub
import Server
import StructuredOutput
import ServiceLifecycle

/// `peregrine serve`: the OpenAI-compatible HTTP server (like `vllm serve` or `llama-server`).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the model over an OpenAI-compatible HTTP API.",
        discussion: """
            Routes: POST /v1/completions and POST /v1/chat/completions (set "stream": true for server-sent events), \
            GET /v1/models, GET /health, POST /tokenize, POST /detokenize, GET /metrics (Prometheus), GET /openapi.json \
            (OpenAPI 3.1) and, for MoE models, \
            GET /v1/eplb/load (the router's load, for `peregrine eplb --load`).

            SIGINT or SIGTERM stops accepting requests, gives running ones --shutdown-timeout seconds and aborts the rest.

            Example: peregrine serve --port 8000, then any OpenAI client with base_url http://127.0.0.1:8000/v1
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var expertParallelOptions: ExpertParallelOptions

    @Option(help: "Address to bind (127.0.0.1 keeps the server local; 0.0.0.0 listens on every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 8000

    @Option(help: "Require 'Authorization: Bearer <key>' on /v1 routes (default: $PEREGRINE_API_KEY if set).")
    var apiKey: String?

    @Option(help: "The model name clients pass (default: the --model value, or the default model's name).")
    var servedModelName: String?

    @Option(help: "Most sequences waiting beyond --max-num-seqs; further requests get 503.")
    var maxWaitingRequests = 256

    @Option(help: "A Jinja chat template file to use instead of the model's.")
    var chatTemplate: String?

    @Option(help: "Seconds running requests get to finish on SIGINT/SIGTERM before they are aborted.")
    var shutdownTimeout = 10.0

    @Option(help: "Seconds a completion may run before it is aborted (408, or an error event ending the stream); default: no limit.")
    var requestTimeout: Double?

    @Option(help: "Most connections open at once; a request on one more is answered 503.")
    var maxConnections = 1024

    @Option(help: "Seconds a connection has to send the whole head of a request, from opening or the end of its previous response (closes slow-header and idle connections; like vLLM's --timeout-keep-alive).")
    var timeoutKeepAlive = 10.0

    @Option(help: "How tool_choice auto output becomes tool calls: hermes, qwen, llama3_json or mistral (vLLM's --tool-call-parser).")
    var toolCallParser = "hermes"

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard maxWaitingRequests >= 0 else { throw ValidationError("--max-waiting-requests must be ≥ 0") }
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be ≥ 0") }
        if let requestTimeout, requestTimeout <= 0 { throw ValidationError("--request-timeout must be positive") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard timeoutKeepAlive > 0 else { throw ValidationError("--timeout-keep-alive must be positive") }
        do { _ = try ToolCallParsers.parser(named: toolCallParser) } catch { throw ValidationError("--tool-call-parser: \(error)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "peregrine.serve")
        let template = try chatTemplate.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        let loaded = try LoadedModel(modelOptions, expertParallel: expertParallelOptions)
        let config = try engineOptions.config(loaded: loaded)
        let llm = try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: config, chatTemplate: template)
        let name = (try? loaded.file.metadata.string("general.name")) ?? "model"
        logger.info("Loaded \(name) in \(String(format: "%.2f", loaded.seconds)) s; max model length \(llm.maxModelLength), KV blocks \(llm.stats.numKVBlocks)")
        let engine = AsyncLLMEngine(engine: llm)
        defer { engine.shutdown() }
        var configuration = ServerConfiguration(
            host: host, port: port, apiKey: apiKey ?? ProcessInfo.processInfo.environment["PEREGRINE_API_KEY"],
            servedModelName: servedModelName ?? modelOptions.model ?? ModelRegistry.defaultModel.name,
            maxNumSeqs: config.scheduler.maxNumSeqs, maxWaitingRequests: maxWaitingRequests, chatTemplate: template,
            shutdownGracePeriod: .milliseconds(Int64(shutdownTimeout * 1000)))
        configuration.maxConnections = maxConnections
        configuration.requestTimeout = requestTimeout.map { .milliseconds(Int64($0 * 1000)) }
        configuration.requestHeadTimeout = .milliseconds(Int64(timeoutKeepAlive * 1000))
        configuration.toolCallParser = toolCallParser
        if let transfer = config.kvTransfer {
            let tcp = llm.kvConnector as? TCPConnector
            let port = tcp?.port
            let host = tcp?.unixPath.map { "unix:" + $0 } ?? (port == nil ? nil : (transfer.ip ?? "127.0.0.1"))
            configuration.kvTransfer = KVTransferInfo(connector: transfer.connector, role: transfer.role, host: host, port: port)
            logger.info("KV connector \(transfer.connector) as \(transfer.role.rawValue)\(port.map { ", KV on port \($0)" } ?? "")")
        }
        let server: OpenAIServer
        do {
            server = try OpenAIServer(engine: engine, configuration: configuration, logger: logger)
        } catch {
            throw ServeError(description: chatTemplate.map { "the chat template in \($0) cannot be used: \(error)" }
                ?? "the model's chat template cannot be used: \(error) (pass --chat-template FILE to use another)")
        }
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// A failure of `peregrine serve` reported as one line (no usage text).
struct ServeError: Error, CustomStringConvertible {
    let description: String
}
