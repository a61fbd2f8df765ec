import Foundation
import Logging
import Server
import ServiceLifecycle
import Testing

/// Disconnects, the bounded queue, concurrent clients and graceful shutdown.
@Suite(.serialized) struct LoadAndFaultTests {
    static let longStream = #"{"prompt": "HELLO", "max_tokens": 4000, "ignore_eos": true, "stream": true}"#

    static func slowServer(_ change: (inout ServerConfiguration) -> Void = { _ in },
                           onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> OpenAIServer {
        try TestServer.make(TestServer.configuration(change), file: TestServer.slowFile, blocks: 1024, blockSize: 16,
                            onServerRunning: onServerRunning)
    }

    static func abortedCount(_ metrics: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix("peregrine:request_success_total{") && $0.contains("\"abort\"") }
            .flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test(arguments: [true, false])
    func clientThatDisconnectsIsAbortedAndItsBlocksFreed(streaming: Bool) async throws {
        let server = try Self.slowServer()
        try await TestServer.withServer(server) { client in
            let connection = try RawHTTPConnection(port: try #require(client.port))
            // A kept-alive connection: its first request is answered, the second is hung up on.
            connection.post("/v1/completions", json: #"{"prompt": "HI", "max_tokens": 3, "ignore_eos": true}"#)
            #expect(await connection.readResponse().hasPrefix("HTTP/1.1 200"))
            if streaming {
                connection.post("/v1/chat/completions",
                                json: #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 4000, "ignore_eos": true, "stream": true}"#)
                let head = await connection.read(until: "\"content\":\"")
                #expect(head.hasPrefix("HTTP/1.1 200"))
            } else {
                connection.post("/v1/completions", json: #"{"prompt": "HELLO", "max_tokens": 4000, "ignore_eos": true}"#)
                try await Task.sleep(for: .milliseconds(300))
                #expect(server.engine.stats.numRunning == 1)
            }
            for _ in 0..<100 where server.engine.stats.kvCacheUsage == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.engine.stats.kvCacheUsage > 0)
            connection.close()
            let stats = await TestServer.waitUntilIdle(server, timeout: 60)
            #expect(stats.numRunning == 0 && stats.numWaiting == 0 && stats.kvCacheUsage == 0)
            // With ignore_eos the request makes exactly 4,000 tokens unless it is aborted: fewer
            // generated tokens prove the hang-up aborted it, however loaded the machine.
            #expect(stats.generationTokens - 3 < 4000, "\(stats.generationTokens) tokens generated")
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            #expect(Self.abortedCount(metrics) == 1)
            #expect(metrics.contains("peregrine:kv_cache_usage_perc{model_name=\"tiny\"} 0"))
        }
    }

    /// One connection carries requests one after another, streamed or not (as the `openai`
    /// client's connection pool does), and no answer asks to close it.
    @Test func connectionsAreKeptAliveAcrossGenerations() async throws {
        try await TestServer.withServer(try TestServer.make()) { client in
            let connection = try RawHTTPConnection(port: try #require(client.port))
            defer { connection.close() }
            let chat = #""messages": [{"role": "user", "content": "HI"}], "max_tokens": 4, "ignore_eos": true"#
            let requests = [("/v1/completions", #"{"prompt": "HI", "max_tokens": 4, "ignore_eos": true}"#, false),
                            ("/v1/chat/completions", "{\(chat), \"stream\": true}", true),
                            ("/v1/completions", #"{"prompt": "HI", "max_tokens": 4, "ignore_eos": true, "stream": true}"#, true),
                            ("/v1/chat/completions", "{\(chat)}", false)]
            for (path, body, streaming) in requests {
                connection.post(path, json: body)
                let response = await connection.readResponse()
                #expect(response.hasPrefix("HTTP/1.1 200"), "\(path): \(response)")
                #expect(!response.lowercased().contains("connection: close"))
                #expect(response.contains("data: [DONE]") == streaming)
                #expect(response.contains("\"finish_reason\":\"length\""))
            }
        }
    }

    @Test func fullQueueAnswers503UntilThereIsRoom() async throws {
        let server = try Self.slowServer { $0.maxNumSeqs = 1; $0.maxWaitingRequests = 1 }
        try await TestServer.withServer(server) { client in
            let first = try RawHTTPConnection(port: try #require(client.port))
            let second = try RawHTTPConnection(port: try #require(client.port))
            let chat = #"{"messages": [{"role": "user", "content": "HI"}], "max_tokens": 4000, "ignore_eos": true, "stream": true}"#
            first.post("/v1/chat/completions", json: chat)
            _ = await first.read(until: "data: ")
            second.post("/v1/chat/completions", json: chat)
            _ = await second.read(until: "data: ")  // admitted, waiting for the one running slot
            let refused = try await client.post("/v1/completions", #"{"prompt": "A", "max_tokens": 1}"#)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.error.code == "server_overloaded" && refused.error.type == "server_error")
            let tooMany = try await client.post("/v1/completions", #"{"prompt": "A", "max_tokens": 1, "n": 2}"#)
            #expect(tooMany.status == .serviceUnavailable)
            first.close()
            second.close()
            _ = await TestServer.waitUntilIdle(server)
            try await Task.sleep(for: .milliseconds(50))
            let accepted = try await client.post("/v1/completions", #"{"prompt": "A", "max_tokens": 1}"#)
            #expect(accepted.status == .ok)
        }
    }

    @Test func concurrentClientsAllFinishAndTheCacheEmpties() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.maxNumSeqs = 4 })
        try await TestServer.withServer(server) { client in
            let statuses = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for i in 0..<24 {
                    group.addTask {
                        let stream = i % 2 == 0
                        let r = try await client.post("/v1/completions", #"{"prompt": "REQUEST \#(i)", "max_tokens": 20, "ignore_eos": true, "#
                                                      + #""stream": \#(stream), "stream_options": {"include_usage": true}}"#)
                        let tokens = (stream ? r.events.last?.usage : r.json.usage)?["completion_tokens"] ?? 0
                        return (Int(r.status.code), tokens)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == 24)
            #expect(statuses.allSatisfy { $0.0 == 200 && $0.1 == 20 }, "\(statuses)")
            let stats = await TestServer.waitUntilIdle(server)
            #expect(stats.numRunning == 0 && stats.kvCacheUsage == 0)
            #expect(stats.generationTokens == 24 * 20)
        }
    }

    @Test func gracefulShutdownLetsShortRequestsFinishAndAbortsTheRest() async throws {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let server = try Self.slowServer({ $0.shutdownGracePeriod = .milliseconds(1500) }, onServerRunning: { portContinuation.yield($0) })
        defer { server.engine.shutdown() }
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let long = try RawHTTPConnection(port: port)
            let short = try RawHTTPConnection(port: port)
            long.post("/v1/completions", json: Self.longStream)
            _ = await long.read(until: "data: ")
            short.post("/v1/completions", json: #"{"prompt": "HI", "max_tokens": 30, "ignore_eos": true, "stream": true}"#)
            _ = await short.read(until: "data: ")
            await group.triggerGracefulShutdown()
            let shortRest = await short.read(until: "data: [DONE]")
            #expect(shortRest.contains(#""finish_reason":"length""#))
            let longRest = await long.read(until: "data: [DONE]")
            #expect(longRest.contains(#""finish_reason":"abort""#))
            try await tasks.waitForAll()
            #expect(throws: (any Error).self) { try RawHTTPConnection(port: port) }
            let stats = await TestServer.waitUntilIdle(server)
            #expect(stats.numRunning == 0 && stats.kvCacheUsage == 0)
        }
    }
}
