import Foundation
import HummingbirdTesting
import Server
import Testing

/// Connections that would tie the server up: slow request heads, idle keep-alive, more
/// connections than the cap, chunked bodies over the size limit.
@Suite struct ConnectionHygieneTests {
    /// A head sent a byte at a time (slowloris) or not finished is closed after the head timeout,
    /// while a prompt request on another connection is served.
    @Test func slowRequestHeadsAreClosed() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.requestHeadTimeout = .milliseconds(500) })
        try await TestServer.withServer(server) { client in
            let port = try #require(client.port)
            let slow = try RawHTTPConnection(port: port)
            slow.write(raw: "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let trickle = Task.detached {
                for _ in 0..<40 {
                    try? await Task.sleep(for: .milliseconds(100))
                    slow.write(raw: "a")
                }
            }
            #expect(await slow.closedByPeer(within: 10), "a head still unfinished after the timeout must be closed")
            trickle.cancel()
            slow.close()
            // An idle connection (no request at all) goes the same way.
            let idle = try RawHTTPConnection(port: port)
            #expect(await idle.closedByPeer(within: 10))
            idle.close()
            let health = try RawHTTPConnection(port: port)
            health.write(raw: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await health.readResponse().hasPrefix("HTTP/1.1 200"))
            health.close()
        }
    }

    /// One connection over the cap gets 503 and is closed; when one closes, a new one is served.
    @Test func connectionsOverTheCapGet503() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.maxConnections = 3 })
        try await TestServer.withServer(server) { client in
            let port = try #require(client.port)
            let held = try (0..<3).map { _ in try RawHTTPConnection(port: port) }
            for connection in held {  // each is served: the cap counts them, it does not refuse them
                connection.write(raw: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(await connection.readResponse().hasPrefix("HTTP/1.1 200"))
            }
            let extra = try RawHTTPConnection(port: port)
            extra.write(raw: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let refused = await extra.readResponse()
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("server_overloaded"), "\(refused)")
            #expect(await extra.closedByPeer(within: 5))
            extra.close()
            held[0].close()
            var served = false
            for _ in 0..<50 where !served {
                try await Task.sleep(for: .milliseconds(20))
                let next = try RawHTTPConnection(port: port)
                next.write(raw: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                served = await next.readResponse().hasPrefix("HTTP/1.1 200")
                next.close()
            }
            #expect(served)
            for connection in held.dropFirst() { connection.close() }
        }
    }

    /// A chunked body (no Content-Length) over the size limit is 413, as a declared one is.
    @Test func chunkedBodyOverTheLimitIs413() async throws {
        let server = try TestServer.make(TestServer.configuration { $0.maxRequestBodySize = 1000 })
        try await TestServer.withServer(server) { client in
            let connection = try RawHTTPConnection(port: try #require(client.port))
            let chunk = "{\"prompt\": \"" + String(repeating: "A", count: 480) + "\","
            connection.write(raw: "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<4 { connection.write(raw: String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n") }
            connection.write(raw: "0\r\n\r\n")
            let response = await connection.readResponse()
            #expect(response.hasPrefix("HTTP/1.1 413"), "\(response)")
            connection.close()
        }
    }

    /// A completion past --request-timeout is aborted: 408 when collected, an error event then
    /// [DONE] when streamed; its blocks are freed either way.
    @Test(arguments: [false, true])
    func requestsPastTheDeadlineAreAborted(streaming: Bool) async throws {
        let server = try TestServer.make(TestServer.configuration { $0.requestTimeout = .milliseconds(300) }, file: TestServer.slowFile,
                                         blocks: 1100)
        try await TestServer.withServer(server) { client in
            let body = #"{"prompt": "ABCD", "max_tokens": 4000, "ignore_eos": true, "stream": \#(streaming)}"#
            let r = try await client.post("/v1/completions", body)
            if streaming {
                #expect(r.status == .ok)
                #expect(r.text.contains("\"code\":\"request_timeout\"") && r.text.hasSuffix("data: [DONE]\n\n"), "\(r.text.suffix(300))")
            } else {
                #expect(r.status == .requestTimeout)
                #expect(r.error.code == "request_timeout")
            }
            let stats = await TestServer.waitUntilIdle(server)
            #expect(stats.kvCacheUsage == 0 && stats.numRunning == 0)
            #expect(stats.generationTokens < 4000)
        }
    }
}
