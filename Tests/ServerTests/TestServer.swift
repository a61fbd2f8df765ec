import Engine
import SpecDecode
import Foundation
import GGUF
import Hummingbird
import HummingbirdTesting
import Kernels
import Models
import Server
import TestSupport
import Testing
import Tokenization

/// Servers over a tiny random model (64-token byte-level vocabulary: printable ASCII up to `^`,
/// no lowercase; context 256), fast enough for many HTTP round trips.
enum TestServer {
    static let pool = ThreadPool(threadCount: 1)
    static let file = try! GGUFFile(bytes: TinyModel(architecture: "qwen2", seed: 21).write())
    static let modelName = "tiny"
    /// A bigger random model (about 3 ms a token), for requests that must still be running when
    /// a test hangs up or shuts the server down.
    static let slowFile: GGUFFile = {
        var tiny = TinyModel(architecture: "llama", hidden: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 4, contextLength: 4096, seed: 5)
        tiny.feedForward = 768
        return try! GGUFFile(bytes: tiny.write())
    }()

    /// The tiny models carry no chat template; the servers get this one, which their vocabulary
    /// can spell (a test sets `chatTemplate` to nil to see a base model's refusal).
    static let chatTemplate = "{% for m in messages %}{{ m.role | upper }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"

    static func configuration(_ change: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var c = ServerConfiguration(host: "127.0.0.1", port: 0, servedModelName: modelName, maxNumSeqs: 8, maxWaitingRequests: 32,
                                    chatTemplate: chatTemplate)
        change(&c)
        return c
    }

    static func make(_ configuration: ServerConfiguration = configuration(), file: GGUFFile = file, blocks: Int = 256,
                     blockSize: Int = 4, eplb: EPLBConfig? = nil, speculative: SpeculativeConfig? = nil,
                     onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> OpenAIServer {
        let model = try ModelArchitectures.load(file: file, pool: pool)
        let c = model.config
        let bytes = model.kvCacheLayout.bytesPerBlock(blockSize: blockSize, kvHeads: c.numKVHeads, headDim: c.headDim, precision: .float16) * blocks
        let engine = try LLMEngine(model: model, tokenizer: try Tokenizer(metadata: file.metadata), config: EngineConfig(
            scheduler: SchedulerConfig(maxNumBatchedTokens: 128, maxNumSeqs: configuration.maxNumSeqs), blockSize: blockSize,
            kvCacheMemory: bytes, eplb: eplb, speculative: speculative))
        let asyncEngine = AsyncLLMEngine(engine: engine)
        do {
            return try OpenAIServer(engine: asyncEngine, configuration: configuration, onServerRunning: onServerRunning)
        } catch {
            asyncEngine.shutdown()  // an AsyncLLMEngine must be shut down before it is released
            throw error
        }
    }

    /// Runs `test` against a live HTTP server on real sockets (AsyncHTTPClient, which keeps its
    /// connections alive between requests).
    static func withServer<T: Sendable>(_ server: OpenAIServer, _ test: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        defer { server.engine.shutdown() }
        return try await server.makeApplication().test(.ahc(.http), test)
    }

    /// Waits until the engine has no running or waiting request and every KV block is free.
    static func waitUntilIdle(_ server: OpenAIServer, timeout: Double = 5) async -> EngineStats {
        let deadline = Date().addingTimeInterval(timeout)
        var stats = server.engine.stats
        while Date() < deadline {
            stats = server.engine.stats
            if stats.numRunning == 0 && stats.numWaiting == 0 && stats.kvCacheUsage == 0 { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return stats
    }
}

extension TestClientProtocol {
    /// POSTs a JSON body.
    func post(_ uri: String, _ body: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// The `data:` payloads of a server-sent-event stream, `[DONE]` excluded, as JSON objects.
    var events: [[String: Any]] {
        text.components(separatedBy: "\n\n").compactMap { event in
            guard event.hasPrefix("data: "), event != "data: [DONE]" else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8))) as? [String: Any]
        }
    }

    var endsWithDone: Bool { text.hasSuffix("data: [DONE]\n\n") }

    /// `error.param`, `error.type`, `error.code` and `error.message` of an OpenAI error body.
    var error: (param: String?, type: String?, code: String?, message: String?) {
        let e = json["error"] as? [String: Any] ?? [:]
        return (e["param"] as? String, e["type"] as? String, e["code"] as? String, e["message"] as? String)
    }
}

extension [String: Any] {
    var choices: [[String: Any]] { self["choices"] as? [[String: Any]] ?? [] }
    var usage: [String: Int] { (self["usage"] as? [String: Any])?.compactMapValues { $0 as? Int } ?? [:] }
}
