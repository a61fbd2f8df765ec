import Foundation
import Hummingbird
import NIOCore

/// Reads a request body (up to a size limit) and decodes it, turning every failure into the
/// OpenAI error a client can act on: 413 for a body too large, 400 naming the field for bad
/// JSON, missing fields and wrong types.
enum JSONRequestBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request, limit: Int) async throws(OpenAIError) -> T {
        try decode(type, from: Data(try await read(&request, limit: limit)))
    }

    /// The decoded body and the same body as an ordered JSON tree.
    static func decodeWithRaw<T: Decodable>(_ type: T.Type, from request: inout Request, limit: Int) async throws(OpenAIError) -> (T, RawBody) {
        let bytes = try await read(&request, limit: limit)
        let decoded = try decode(type, from: Data(bytes))
        return (decoded, RawBody(bytes))
    }

    private static func read(_ request: inout Request, limit: Int) async throws(OpenAIError) -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw .bodyTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw .bodyTooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length to check first) that outgrew the limit.
            throw .bodyTooLarge(limit: limit)
        } catch {
            throw .invalidRequest("Could not read the request body: \(error)")
        }
        return Array(buffer.readableBytesView)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(OpenAIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Self.error(for: error)
        } catch {
            throw .invalidRequest("Could not parse the JSON body of the request: \(error)")
        }
    }

    static func error(for error: DecodingError) -> OpenAIError {
        switch error {
        case .keyNotFound(let key, let context):
            let param = path(context.codingPath + [key])
            return .invalidRequest("Missing required parameter: '\(param)'.", param: param)
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return .invalidRequest("The request body must be a JSON object.")
        case .typeMismatch(let type, let context):
            let param = path(context.codingPath)
            let detail = context.debugDescription.hasPrefix("Expected to decode") ? "expected \(Self.name(of: type))" : context.debugDescription
            return .invalidRequest("Invalid type for '\(param)': \(detail).", param: param)
        case .valueNotFound(let type, let context):
            let param = path(context.codingPath)
            return .invalidRequest("Invalid value for '\(param)': expected \(Self.name(of: type)), got null.", param: param)
        case .dataCorrupted(let context):
            guard !context.codingPath.isEmpty else {
                return .invalidRequest("We could not parse the JSON body of your request: the body must be a JSON object.")
            }
            let param = path(context.codingPath)
            return .invalidRequest("Invalid value for '\(param)': \(context.debugDescription).", param: param)
        @unknown default:
            return .invalidRequest("Invalid request body: \(error)")
        }
    }

    /// `messages[0].content` for a coding path.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "a value of type \(type)"
        }
    }
}
