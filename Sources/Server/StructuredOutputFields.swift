import Engine
import Tokenization

/// The output-constraint fields both completion APIs accept: OpenAI's `response_format`, vLLM's
/// `structured_outputs` object and its older `guided_*` fields.
///
/// Schemas are read from the raw body (``RawBody``), not through `Decodable`, so that their
/// properties keep the order they were written in: the grammar generates them in that order.
struct StructuredOutputFields: Decodable, Sendable {
    var responseFormat: ResponseFormat?
    var structuredOutputs: Options?
    var guidedRegex: String?
    var guidedChoice: [String]?
    var guidedGrammar: String?
    var hasGuidedJSON = false

    struct ResponseFormat: Decodable, Sendable {
        var type: String
        var jsonSchema: JSONSchemaField?
        enum CodingKeys: String, CodingKey { case type, jsonSchema = "json_schema" }
    }

    struct JSONSchemaField: Decodable, Sendable {
        var name: String
        var strict: Bool?
    }

    /// vLLM's `structured_outputs`: exactly one of its constraint keys.
    struct Options: Decodable, Sendable {
        var regex: String?
        var choice: [String]?
        var grammar: String?
        var jsonObject: Bool?
        var hasJSON = false
        enum CodingKeys: String, CodingKey { case json, regex, choice, grammar, jsonObject = "json_object" }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            hasJSON = c.contains(.json)
            regex = try c.decodeIfPresent(String.self, forKey: .regex)
            choice = try c.decodeIfPresent([String].self, forKey: .choice)
            grammar = try c.decodeIfPresent(String.self, forKey: .grammar)
            jsonObject = try c.decodeIfPresent(Bool.self, forKey: .jsonObject)
        }
    }

    enum CodingKeys: String, CodingKey {
        case responseFormat = "response_format", structuredOutputs = "structured_outputs"
        case guidedJSON = "guided_json", guidedRegex = "guided_regex", guidedChoice = "guided_choice", guidedGrammar = "guided_grammar"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseFormat = try c.decodeIfPresent(ResponseFormat.self, forKey: .responseFormat)
        structuredOutputs = try c.decodeIfPresent(Options.self, forKey: .structuredOutputs)
        hasGuidedJSON = c.contains(.guidedJSON)
        guidedRegex = try c.decodeIfPresent(String.self, forKey: .guidedRegex)
        guidedChoice = try c.decodeIfPresent([String].self, forKey: .guidedChoice)
        guidedGrammar = try c.decodeIfPresent(String.self, forKey: .guidedGrammar)
    }

    /// The constraint these fields ask for and the field that asked, or nil; two constraints at
    /// once, or a `structured_outputs` without exactly one key, is a 400.
    func constraint(raw: RawBody) throws(OpenAIError) -> (params: StructuredOutputsParams, param: String)? {
        var found: [(StructuredOutputsParams, String)] = []
        if let format = responseFormat {
            switch format.type {
            case "text": break
            case "json_object": found.append((.jsonObject, "response_format"))
            case "json_schema":
                guard format.jsonSchema != nil else {
                    throw .invalidRequest("response_format of type json_schema needs a json_schema object.", param: "response_format.json_schema")
                }
                let schema = try raw.json(at: ["response_format", "json_schema", "schema"], param: "response_format.json_schema.schema",
                                          default: "{}")
                found.append((.json(schema: schema), "response_format.json_schema.schema"))
            default:
                throw .invalidRequest("response_format type must be text, json_object or json_schema, got '\(format.type)'.",
                                      param: "response_format.type")
            }
        }
        if let options = structuredOutputs {
            var keys: [(StructuredOutputsParams, String)] = []
            if options.hasJSON {
                keys.append((.json(schema: try raw.json(at: ["structured_outputs", "json"], param: "structured_outputs.json")),
                             "structured_outputs.json"))
            }
            if let regex = options.regex { keys.append((.regex(regex), "structured_outputs.regex")) }
            if let choice = options.choice { keys.append((.choice(choice), "structured_outputs.choice")) }
            if let grammar = options.grammar { keys.append((.grammar(grammar), "structured_outputs.grammar")) }
            if options.jsonObject == true { keys.append((.jsonObject, "structured_outputs.json_object")) }
            guard keys.count == 1 else {
                throw .invalidRequest("structured_outputs must set exactly one of json, regex, choice, grammar and json_object.",
                                      param: "structured_outputs")
            }
            found += keys
        }
        if hasGuidedJSON { found.append((.json(schema: try raw.json(at: ["guided_json"], param: "guided_json")), "guided_json")) }
        if let guidedRegex { found.append((.regex(guidedRegex), "guided_regex")) }
        if let guidedChoice { found.append((.choice(guidedChoice), "guided_choice")) }
        if let guidedGrammar { found.append((.grammar(guidedGrammar), "guided_grammar")) }
        guard found.count <= 1 else {
            throw .invalidRequest("Only one output constraint may be given; got \(found.map(\.1).joined(separator: " and ")).",
                                  param: found[1].1)
        }
        return found.first.map { (params: $0.0, param: $0.1) }
    }
}

/// The request body as an ordered JSON tree, for the parts that must keep key order (schemas).
struct RawBody: Sendable {
    let value: JinjaValue

    init(_ bytes: [UInt8]) {
        value = JinjaValue(json: String(decoding: bytes, as: UTF8.self)) ?? .none
    }

    /// The value at `path`, or nil.
    func value(at path: [String]) -> JinjaValue? {
        var current = value
        for key in path {
            switch current {
            case .object(let object):
                guard let next = object[key] else { return nil }
                current = next
            case .array(let items):
                guard let i = Int(key), items.indices.contains(i) else { return nil }
                current = items[i]
            default:
                return nil
            }
        }
        return current
    }

    /// The compact JSON text at `path` (`default` when absent); a JSON string value holding JSON
    /// is unwrapped (vLLM accepts a schema as a string).
    func json(at path: [String], param: String, default fallback: String? = nil) throws(OpenAIError) -> String {
        guard let value = value(at: path), value != .none else {
            if let fallback { return fallback }
            throw .invalidRequest("\(param) must be a JSON Schema.", param: param)
        }
        if case .string(let text) = value {
            guard JinjaValue(json: text) != nil else { throw .invalidRequest("\(param) is a string that is not JSON.", param: param) }
            return text
        }
        guard let text = value.compactJSON else { throw .invalidRequest("\(param) must be JSON.", param: param) }
        return text
    }
}
