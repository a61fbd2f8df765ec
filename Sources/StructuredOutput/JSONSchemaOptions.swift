/// How ``JSONSchemaConverter`` reads a schema and lays out the JSON it allows.
public struct JSONSchemaOptions: Sendable, Hashable {
    /// Whitespace allowed between JSON tokens.
    public enum Whitespace: Sendable, Hashable {
        /// No whitespace at all: the output is compact JSON.
        case compact
        /// Between two tokens: nothing, one space, or a newline followed by at most
        /// `maxIndent` spaces or tabs. Pretty-printed JSON fits, but a model can never spend
        /// more than `maxIndent + 1` bytes of whitespace in one gap, so it cannot loop there.
        case bounded(maxIndent: Int)
    }

    /// Whitespace between tokens; the default allows pretty printing with up to 20 columns of
    /// indentation.
    public var whitespace: Whitespace
    /// When true (the default, as OpenAI's strict mode and XGrammar's strict mode), an object
    /// schema without `additionalProperties` allows no properties besides those it declares;
    /// when false, JSON Schema's own default (any additional property) applies.
    public var strict: Bool

    public init(whitespace: Whitespace = .bounded(maxIndent: 20), strict: Bool = true) {
        self.whitespace = whitespace
        self.strict = strict
    }
}
