/// A constraint on a request's output (vLLM's `StructuredOutputsParams`): the text generated
/// must match it, enforced token by token with a grammar mask.
public enum StructuredOutputsParams: Sendable, Hashable {
    /// JSON matching the JSON Schema in this text.
    case json(schema: String)
    /// Any JSON object (`response_format` `{"type": "json_object"}`).
    case jsonObject
    /// Text matching the whole regular expression.
    case regex(String)
    /// Exactly one of the strings.
    case choice([String])
    /// Text matching the GBNF grammar (llama.cpp's syntax; the start rule is `root`).
    case grammar(String)

    /// vLLM's name for the kind of constraint, as the API spells it.
    public var kind: String {
        switch self {
        case .json: "json"
        case .jsonObject: "json_object"
        case .regex: "regex"
        case .choice: "choice"
        case .grammar: "grammar"
        }
    }
}
