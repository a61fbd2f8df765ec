import Engine
import StructuredOutput
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Tokenization

/// The OpenAI-compatible HTTP server over one ``AsyncLLMEngine`` (`peregrine serve`).
///
/// Routes: `POST /v1/completions`, `POST /v1/chat/completions` (streaming with server-sent
/// events or not), `GET /v1/models`, `GET /health`, `POST /tokenize`, `POST /detokenize`,
/// `GET /metrics`. Every request feeds the one engine loop (continuous batching); a client that
/// disconnects has its request aborted at once; the requests in flight are bounded (503 beyond).
///
/// Run it as a ServiceLifecycle `Service`: on graceful shutdown it stops accepting connections,
/// answers new requests 503, gives running ones ``ServerConfiguration/shutdownGracePeriod`` to
/// finish and aborts the rest.
///
/// ```swift
/// let server = try OpenAIServer(engine: AsyncLLMEngine(engine: llm), configuration: .init(port: 8000))
/// let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint],
///                                               logger: logger))
/// try await group.run()
/// ```
public final class OpenAIServer: Service, Sendable {
    public let engine: AsyncLLMEngine
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    let tokenizer: Tokenizer
    let chatTemplate: ChatTemplate
    /// Reads `tool_choice: auto` output (``ServerConfiguration/toolCallParser``; `serve` checks the name).
    let toolCallParser: any ToolCallParser
    let maxModelLength: Int
    let tracker: RequestTracker
    /// Connections open, against ``ServerConfiguration/maxConnections``.
    let connectionLimits: ConnectionLimits
    let logger: Logger
    let created = Int(Date().timeIntervalSince1970)
    private let onServerRunning: @Sendable (_ port: Int) async -> Void

    /// Sets the server up; throws when the chat template (the model's, or
    /// ``ServerConfiguration/chatTemplate``) cannot be run by the Jinja interpreter.
    /// `onServerRunning` gets the bound port once ``run()`` listens.
    public init(engine: AsyncLLMEngine, configuration: ServerConfiguration = ServerConfiguration(),
                logger: Logger = Logger(label: "peregrine.server"),
                onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws(ChatTemplateError) {
        self.engine = engine
        self.onServerRunning = onServerRunning
        self.configuration = configuration
        self.logger = logger
        tokenizer = engine.inputProcessor.tokenizer
        maxModelLength = engine.inputProcessor.maxModelLength
        if let source = configuration.chatTemplate ?? tokenizer.chatTemplate {
            chatTemplate = try ChatTemplate(validating: source, bosToken: tokenizer.bosTokenText, eosToken: tokenizer.eosTokenText)
        } else {
            chatTemplate = ChatTemplate(source: nil)
        }
        toolCallParser = (try? ToolCallParsers.parser(named: configuration.toolCallParser)) ?? HermesToolCallParser()
        metrics = ServerMetrics(modelName: configuration.servedModelName)
        tracker = RequestTracker(limit: configuration.maxSequencesInFlight)
        connectionLimits = ConnectionLimits(maxConnections: configuration.maxConnections,
                                            requestHeadTimeout: .nanoseconds(configuration.requestHeadTimeout.nanoseconds))
    }

    /// The routes with their middleware (errors as OpenAI error objects, API key on `/v1`).
    public func makeRouter() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: OpenAIErrorMiddleware())
        let routes = MethodNotAllowedMiddleware<ServerRequestContext>.Routes()
        router.add(middleware: MethodNotAllowedMiddleware(routes: routes))
        if let apiKey = configuration.apiKey { router.add(middleware: APIKeyMiddleware(apiKey: apiKey)) }
        router.post("/v1/completions") { request, context in try await self.completions(request, context: context) }
        router.post("/v1/chat/completions") { request, context in try await self.chatCompletions(request, context: context) }
        router.get("/v1/models") { _, _ in self.models() }
        router.get("/v1/eplb/load") { _, _ in try self.expertLoad() }
        router.get("/v1/eplb/placement") { _, _ in try self.expertPlacement() }
        router.get("/health") { _, _ in self.health() }
        router.get("/kv_transfer_info") { _, _ in try self.kvTransferInfo() }
        router.get("/") { _, _ in ChatPage.response() }
        router.get("/metrics") { _, _ in self.prometheusMetrics() }
        router.get("/openapi.json") { _, _ in
            Self.json(OpenAPIDocument.make(servedModelName: self.configuration.servedModelName, vocabSize: self.tokenizer.vocabSize,
                                           maxModelLength: self.maxModelLength), status: .ok)
        }
        router.post("/tokenize") { request, _ in try await self.tokenize(request) }
        router.post("/detokenize") { request, _ in try await self.detokenize(request) }
        routes.set(router.routes)
        return router
    }

    /// The Hummingbird application listening on the configured host and port;
    /// `onServerRunning` gets the port it bound.
    public func makeApplication(onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let limits = connectionLimits
        return Application(router: makeRouter(), server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(limits: limits), DisconnectWatcher()])),
                    configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                         serverName: "peregrine"),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    /// Serves until graceful shutdown; then drains (see the type's documentation).
    public func run() async throws {
        let application = makeApplication { port in
            self.logger.info("Serving \(self.configuration.servedModelName) on http://\(self.configuration.host):\(port)")
            await self.onServerRunning(port)
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await application.run() }
            group.addTask { await self.drainOnShutdown() }
        }
        logger.info("Server stopped")
    }

    /// Waits for graceful shutdown, then refuses new requests, waits up to the grace period for
    /// running ones and aborts whatever is left.
    private func drainOnShutdown() async {
        do { try await gracefulShutdown() } catch { return }
        tracker.beginDraining()
        logger.info("Shutting down: \(tracker.sequencesInFlight) sequences in flight, grace period \(configuration.shutdownGracePeriod)")
        guard await !tracker.waitUntilIdle(timeout: configuration.shutdownGracePeriod) else { return }
        let ids = tracker.activeEngineIds
        logger.warning("Aborting \(ids.count) requests still running after the grace period")
        for id in ids { engine.abort(id) }
        _ = await tracker.waitUntilIdle(timeout: .seconds(5))
    }

    // MARK: - Small endpoints

    func models() -> Response {
        let model: JSON = [
            "id": .string(configuration.servedModelName), "object": "model", "created": .int(created), "owned_by": "peregrine",
            "root": .string(configuration.servedModelName), "parent": nil, "max_model_len": .int(maxModelLength),
        ]
        return Self.json(["object": "list", "data": [model]])
    }

    /// 200 `ok`; 503 while shutting down, or `degraded` (with the ranks that are down) while an
    /// expert worker is unreachable; still `degraded` but 200 once its experts were placed on the
    /// live workers (`replace_dead_ranks`).
    func health() -> Response {
        if tracker.isDraining { return Self.json(["status": "shutting down"], status: .serviceUnavailable) }
        let stats = engine.stats
        if let workers = stats.expertParallel, !workers.isHealthy {
            let down = workers.ranks.indices.filter { !workers.ranks[$0].alive }
            // Serving on (200) once the dead ranks' experts were placed on the live ones.
            let replaced = stats.expertLoad?.deadRanksReplaced ?? false
            return Self.json(["status": "degraded", "expert_workers_down": .array(down.map { .int($0) })],
                             status: replaced ? .ok : .serviceUnavailable)
        }
        return Self.json(["status": "ok"])
    }

    func prometheusMetrics() -> Response {
        let text = metrics.render(stats: engine.stats)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: - Helpers for the endpoints

    static func json(_ value: JSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json(value))))
    }

    private static func json(_ value: JSON) -> [UInt8] { value.bytes }

    /// 404 unless `model` is absent or the served name.
    func checkModel(_ model: String?) throws(OpenAIError) {
        if let model, model != configuration.servedModelName { throw .modelNotFound(model) }
    }

    /// 400 when the prompt and the tokens asked for do not fit in the model's context.
    func checkContext(promptTokens: Int, maxTokens: Int?, maxTokensField: String, promptField: String) throws(OpenAIError) {
        if promptTokens + (maxTokens ?? 1) > maxModelLength {
            let promptAlone = promptTokens >= maxModelLength || maxTokens == nil
            throw .contextLengthExceeded(maxModelLength: maxModelLength, promptTokens: promptTokens, maxTokens: maxTokens ?? 1,
                                         param: promptAlone ? promptField : maxTokensField)
        }
    }

    static func requestId(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}
