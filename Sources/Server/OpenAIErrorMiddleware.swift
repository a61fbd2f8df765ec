import Hummingbird

/// Turns every error a route throws (including the router's own 404 and 405) into OpenAI's error
/// object with the matching status.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let openAIError = OpenAIError(error)
            if openAIError.status.code >= 500 {
                context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            }
            return try openAIError.response(from: request, context: context)
        }
    }
}
