import Hummingbird

/// Checks `Authorization: Bearer <key>` on the OpenAI routes (`/v1/…`), comparing in constant
/// time so the key cannot be guessed byte by byte from response times.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: [UInt8]

    init(apiKey: String) { self.apiKey = Array(apiKey.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") || request.uri.path == "/v1" else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.constantTimeEquals(Array(header.utf8.dropFirst(prefix.utf8.count)), apiKey) else {
            throw OpenAIError.invalidAPIKey
        }
        return try await next(request, context)
    }

    /// Whether `a == b`, taking the same time for every `a` of a given length (it never stops at
    /// the first difference); a length mismatch is folded into the result, not returned early.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
        for i in 0..<a.count { difference |= a[i] ^ (b.isEmpty ? 0 : b[i % b.count]) }
        return difference == 0
    }
}
