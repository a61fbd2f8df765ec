import Hummingbird
import Synchronization

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

/// 405 with an `Allow` header for a method a known path does not serve (the router alone
/// answers 404 for any method it has no route for). The paths and methods are the router's own,
/// filled in once its routes are added.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    final class Routes: Sendable {
        private let methods = Mutex<[String: [HTTPRequest.Method]]>([:])

        func set(_ routes: [Router<Context>.RouteDescription]) {
            methods.withLock { table in
                for route in routes { table[route.path.description, default: []].append(route.method) }
            }
        }

        func allowed(_ path: String) -> [HTTPRequest.Method]? { methods.withLock { $0[path] } }
    }

    let routes: Routes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let methods = routes.allowed(request.uri.path), !methods.contains(request.method) else {
            return try await next(request, context)
        }
        let error = OpenAIError(status: .methodNotAllowed, message: "\(request.method) is not allowed on \(request.uri.path).")
        var response = try error.response(from: request, context: context)
        response.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
        return response
    }
}
