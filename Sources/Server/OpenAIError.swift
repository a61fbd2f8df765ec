import Engine
import Hummingbird

/// An error answered with OpenAI's error object:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}`.
public struct OpenAIError: Error, HTTPResponseError, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// `invalid_request_error`, `authentication_error`, `server_error`, …
    public var type: String
    /// The request field at fault, if one is.
    public var param: String?
    public var code: String?

    public init(status: HTTPResponse.Status, message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400: the request is malformed or a value is out of range.
    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, param: param, code: code)
    }

    /// 400: the prompt and the tokens asked for do not fit in the context.
    static func contextLengthExceeded(maxModelLength: Int, promptTokens: Int, maxTokens: Int, param: String) -> OpenAIError {
        invalidRequest(
            "This model's maximum context length is \(maxModelLength) tokens. However, you requested "
                + "\(promptTokens + maxTokens) tokens (\(promptTokens) in the messages, \(maxTokens) in the completion). "
                + "Please reduce the length of the messages or completion.",
            param: param, code: "context_length_exceeded")
    }

    /// 401: a missing or wrong API key.
    static let invalidAPIKey = OpenAIError(
        status: .unauthorized, message: "Incorrect API key provided. Pass it as 'Authorization: Bearer <key>'.",
        type: "invalid_request_error", code: "invalid_api_key")

    /// 404: a model this server does not serve.
    static func modelNotFound(_ name: String) -> OpenAIError {
        OpenAIError(status: .notFound, message: "The model `\(name)` does not exist.", param: "model", code: "model_not_found")
    }

    /// 413: the body is larger than the server accepts.
    static func bodyTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(status: .contentTooLarge, message: "The request body is larger than \(limit) bytes.", code: "request_too_large")
    }

    /// 408: the request ran past `--request-timeout` and was aborted.
    static func requestTimeout(seconds: Double) -> OpenAIError {
        OpenAIError(status: .requestTimeout, message: "The request ran longer than the server's limit of \(seconds) s and was aborted.",
                    type: "server_error", code: "request_timeout")
    }

    /// 503: the waiting queue is full, or the server is shutting down.
    static func overloaded(_ message: String) -> OpenAIError {
        OpenAIError(status: .serviceUnavailable, message: message, type: "server_error", code: "server_overloaded")
    }

    /// The body of the error response.
    var json: JSON {
        ["error": ["message": .string(message), "type": .string(type), "param": .optional(param), "code": .optional(code)]]
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}

extension OpenAIError {
    /// The OpenAI error for any error a handler throws: Hummingbird's HTTP errors keep their
    /// status, anything else is a 500.
    init(_ error: any Error) {
        switch error {
        case let error as OpenAIError:
            self = error
        case let error as RequestFailure:
            self.init(status: .serviceUnavailable, message: "The request failed: \(error.message)", type: "server_error", code: "request_failed")
        case let error as HTTPError:
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            let message = error.body ?? error.status.reasonPhrase
            self.init(status: error.status, message: message.isEmpty ? "\(error.status.code)" : message, type: type)
        default:
            self.init(status: .internalServerError, message: "Internal server error: \(error)", type: "server_error")
        }
    }
}
