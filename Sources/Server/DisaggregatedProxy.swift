import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// `peregrine proxy`: an OpenAI-compatible front end for prefill/decode disaggregation (vLLM's
/// disaggregated-serving proxy). Each completion goes first to a prefill instance with
/// `max_tokens` 1 and `kv_transfer_params.do_remote_decode` naming a decode instance's KV
/// address, which it pushes the prompt's KV to while computing it; then to that decode instance
/// with the `kv_transfer_params` the prefill instance returned, whose answer (streamed or not)
/// goes back to the client.
///
/// Instances are chosen by fewest outstanding requests among the healthy ones (`/health` is
/// polled). A prefill instance that fails leaves the decode instance to compute the prompt
/// itself; no healthy decode instance is a 503, a decode instance that fails a 502, in OpenAI's
/// error shape. The client's `Authorization` header is passed through.
public final class DisaggregatedProxy: Service, Sendable {
    /// One backend instance.
    public final class Instance: Sendable {
        public let url: String
        let state = Mutex(State())

        struct State {
            var healthy = true
            var outstanding = 0
            var kvHost: String?
            var kvPort: Int?
        }

        init(url: String) { self.url = url.hasSuffix("/") ? String(url.dropLast()) : url }

        public var isHealthy: Bool { state.withLock { $0.healthy } }
        public var outstanding: Int { state.withLock { $0.outstanding } }
    }

    public let prefill: [Instance]
    public let decode: [Instance]
    let host: String
    let port: Int
    let healthInterval: Duration
    let client: HTTPClient
    let logger: Logger
    let maxBodyBytes = 4 << 20
    let metrics: ProxyMetrics

    public init(prefill: [String], decode: [String], host: String = "127.0.0.1", port: Int = 8000,
                healthInterval: Duration = .seconds(2), logger: Logger) {
        self.prefill = prefill.map(Instance.init)
        self.decode = decode.map(Instance.init)
        self.host = host
        self.port = port
        self.healthInterval = healthInterval
        self.logger = logger
        metrics = ProxyMetrics(prefill: self.prefill.map(\.url), decode: self.decode.map(\.url))
        client = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    deinit { try? client.syncShutdown() }

    public func run() async throws {
        let router = Router()
        router.post("/v1/completions") { request, _ in try await self.complete(request, path: "/v1/completions") }
        router.post("/v1/chat/completions") { request, _ in try await self.complete(request, path: "/v1/chat/completions") }
        router.get("/health") { _, _ in
            self.decode.contains(where: \.isHealthy) && self.prefill.contains(where: \.isHealthy)
                ? Self.json(["status": "ok"]) : Self.json(["status": "no healthy prefill or decode instance"], status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.render(self.prefill + self.decode))))
        }
        for path in ["/v1/models", "/openapi.json", "/v1/eplb/load", "/v1/eplb/placement", "/"] {
            router.get(RouterPath(path)) { request, _ in try await self.forward(request, path: path, method: .GET) }
        }
        for path in ["/tokenize", "/detokenize"] {
            router.post(RouterPath(path)) { request, _ in try await self.forward(request, path: path, method: .POST) }
        }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.checkHealth() }
            try await app.runService()
            group.cancelAll()
        }
    }

    /// Polls every instance's `/health` (and a decode instance's `/kv_transfer_info`).
    func checkHealth() async throws {
        while !Task.isCancelled {
            for instance in prefill + decode {
                var healthy = false
                var kv: (String?, Int?) = (nil, nil)
                if let response = try? await client.execute(HTTPClientRequest(url: instance.url + "/health"), timeout: .seconds(2)) {
                    healthy = response.status == .ok
                    _ = try? await response.body.collect(upTo: 1 << 16)
                }
                if healthy, decode.contains(where: { $0 === instance }),
                   let response = try? await client.execute(HTTPClientRequest(url: instance.url + "/kv_transfer_info"), timeout: .seconds(2)),
                   let body = try? await response.body.collect(upTo: 1 << 16),
                   let info = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] {
                    // A consumer bound to every interface is reached at the address its URL names.
                    var host = info["kv_host"] as? String
                    if host == nil || host == "0.0.0.0" || host == "::" { host = URL(string: instance.url)?.host }
                    kv = (host, info["kv_port"] as? Int)
                    if kv.1 == nil && !(host?.hasPrefix("unix:") ?? false) { healthy = false }  // not a consumer: cannot take KV
                }
                let changed = instance.state.withLock { s -> Bool in
                    defer {
                        s.healthy = healthy
                        if healthy { (s.kvHost, s.kvPort) = kv }
                    }
                    return s.healthy != healthy
                }
                if changed { logger.info("\(instance.url) is \(healthy ? "healthy" : "unhealthy")") }
            }
            try await Task.sleep(for: healthInterval)
        }
    }

    /// The healthy instance with the fewest outstanding requests, taken (its count goes up).
    private func take(_ instances: [Instance]) -> Instance? {
        let chosen = instances.filter(\.isHealthy).min { $0.outstanding < $1.outstanding }
        chosen?.state.withLock { $0.outstanding += 1 }
        return chosen
    }

    private func release(_ instance: Instance) { instance.state.withLock { $0.outstanding -= 1 } }

    func complete(_ request: Request, path: String) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: maxBodyBytes) } catch {
            return Self.error(.contentTooLarge, "The request body is over \(maxBodyBytes) bytes.", type: "invalid_request_error")
        }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] else {
            return Self.error(.badRequest, "The request body is not a JSON object.", type: "invalid_request_error")
        }
        guard let decodeInstance = take(decode) else {
            metrics.count("no_decode")
            return Self.error(.serviceUnavailable, "No decode instance is available.", type: "service_unavailable")
        }
        defer { release(decodeInstance) }
        var outcome = "decode_only"
        let authorization = request.headers[.authorization]
        let (kvHost, kvPort) = decodeInstance.state.withLock { ($0.kvHost, $0.kvPort) }
        // 1. Prefill: one token, the prompt's KV pushed to the decode instance as it is computed.
        if let prefillInstance = take(prefill), let kvHost, kvPort != nil || kvHost.hasPrefix("unix:") {
            defer { release(prefillInstance) }
            let transferId = "xfer-" + UUID().uuidString
            var prefillBody = object
            prefillBody["max_tokens"] = 1
            if prefillBody["max_completion_tokens"] != nil { prefillBody["max_completion_tokens"] = 1 }
            prefillBody["stream"] = false
            prefillBody["stream_options"] = nil
            prefillBody["n"] = 1
            var params: [String: Any] = ["do_remote_decode": true, "remote_request_id": transferId, "remote_host": kvHost]
            if let kvPort { params["remote_port"] = kvPort }
            prefillBody["kv_transfer_params"] = params
            do {
                let response = try await post(prefillInstance.url + path, prefillBody, authorization: authorization)
                let answer = try await response.body.collect(upTo: 16 << 20)
                if response.status.code >= 400 && response.status.code < 500 {
                    // The request itself is wrong: the decode instance would say the same.
                    metrics.count("client_error")
                    return Response(status: .init(code: Int(response.status.code)), headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: answer))
                }
                if response.status == .ok, let result = (try? JSONSerialization.jsonObject(with: Data(buffer: answer))) as? [String: Any],
                   let params = result["kv_transfer_params"] as? [String: Any] {
                    object["kv_transfer_params"] = params
                    outcome = "disaggregated"
                } else {
                    logger.warning("prefill at \(prefillInstance.url) answered \(response.status.code); the decode instance computes the prompt")
                }
            } catch {
                logger.warning("prefill at \(prefillInstance.url) failed (\(error)); the decode instance computes the prompt")
            }
        }
        // 2. Decode, answered to the client as the decode instance answers.
        do {
            let response = try await post(decodeInstance.url + path, object, authorization: authorization)
            metrics.count(outcome)
            var headers = HTTPFields()
            headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
            return Response(status: .init(code: Int(response.status.code)), headers: headers,
                            body: ResponseBody(asyncSequence: response.body))
        } catch {
            decodeInstance.state.withLock { $0.healthy = false }
            metrics.count("decode_failed")
            return Self.error(.badGateway, "The decode instance \(decodeInstance.url) failed: \(error).", type: "bad_gateway")
        }
    }

    /// Other endpoints go to a decode instance as they are.
    func forward(_ request: Request, path: String, method: NIOHTTP1.HTTPMethod) async throws -> Response {
        var request = request
        guard let instance = take(decode) else {
            return Self.error(.serviceUnavailable, "No decode instance is available.", type: "service_unavailable")
        }
        defer { release(instance) }
        var outgoing = HTTPClientRequest(url: instance.url + path)
        outgoing.method = method
        if let auth = request.headers[.authorization] { outgoing.headers.add(name: "authorization", value: auth) }
        if method == .POST {
            outgoing.headers.add(name: "content-type", value: "application/json")
            outgoing.body = .bytes(try await request.collectBody(upTo: maxBodyBytes))
        }
        do {
            let response = try await client.execute(outgoing, timeout: .seconds(600))
            let body = try await response.body.collect(upTo: 64 << 20)
            var headers = HTTPFields()
            headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
            return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
        } catch {
            return Self.error(.badGateway, "The decode instance \(instance.url) failed: \(error).", type: "bad_gateway")
        }
    }

    private func post(_ url: String, _ object: [String: Any], authorization: String?) async throws -> HTTPClientResponse {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = .POST
        outgoing.headers.add(name: "content-type", value: "application/json")
        if let authorization { outgoing.headers.add(name: "authorization", value: authorization) }
        outgoing.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: object)))
        return try await client.execute(outgoing, timeout: .seconds(3600))
    }

    static func json(_ object: [String: String], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// An error in OpenAI's shape.
    static func error(_ status: HTTPResponse.Status, _ message: String, type: String) -> Response {
        let object: [String: Any] = ["error": ["message": message, "type": type, "param": NSNull(), "code": NSNull()]]
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
