import Hummingbird

/// Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`.
enum ServerSentEvents {
    static let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]

    static func event(_ value: JSON) -> ByteBuffer {
        var bytes = Array("data: ".utf8)
        value.write(to: &bytes)
        bytes += [0x0A, 0x0A]
        return ByteBuffer(bytes: bytes)
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
