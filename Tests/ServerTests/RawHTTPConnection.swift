import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bare TCP connection for tests that hang up mid-request. Blocking socket calls run on their
/// own thread, never on Swift's cooperative pool (which the server needs).
final class RawHTTPConnection: @unchecked Sendable {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            _ = Glibc.close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    /// Sends a POST with a JSON body.
    func post(_ path: String, json: String) {
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\n\r\n\(json)"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
    }

    /// Sends bytes as they are.
    func write(raw text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the server closes the connection within `seconds` (reading and dropping whatever
    /// it sends before).
    func closedByPeer(within seconds: Int) async -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return await withCheckedContinuation { continuation in
            Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(self.fd, &buffer, buffer.count, 0)
                    if n == 0 { return continuation.resume(returning: true) }
                    if n < 0 { return continuation.resume(returning: errno == ECONNRESET) }
                }
            }.start()
        }
    }

    /// Reads until `marker` arrives or the peer closes.
    func read(until marker: String) async -> String {
        await receive { String(decoding: $0, as: UTF8.self).contains(marker) }
    }

    /// Reads one whole HTTP response (its body sized by `Content-Length` or chunked), leaving
    /// the connection open for the next request; returns what arrived if the peer closes first.
    func readResponse() async -> String {
        await receive(until: Self.isComplete)
    }

    /// Receives on a thread of its own until `done` holds for the bytes so far or the peer closes.
    private func receive(until done: @escaping @Sendable ([UInt8]) -> Bool) async -> String {
        await withCheckedContinuation { continuation in
            Thread {
                var received = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !done(received) {
                    let n = recv(self.fd, &buffer, buffer.count, 0)
                    guard n > 0 else { break }
                    received += buffer[..<n]
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self))
            }.start()
        }
    }

    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        let bodyBytes = text[end.upperBound...].utf8.count
        if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
           let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) {
            return bodyBytes >= length
        }
        return head.contains("transfer-encoding: chunked") && text.hasSuffix("\r\n0\r\n\r\n")
    }

    func close() { _ = Glibc.close(fd) }
}
