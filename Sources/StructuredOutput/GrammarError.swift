/// Why a grammar, regex or schema could not be compiled. The message names the construct.
public enum GrammarError: Error, Equatable, Sendable, CustomStringConvertible {
    /// GBNF/EBNF text that does not parse (`offset` is a byte offset into the text).
    case syntax(String, offset: Int)
    /// A regular expression that does not parse or uses an unsupported feature.
    case regex(String, offset: Int)
    /// A JSON Schema keyword or value that cannot be enforced; `keyword` names it.
    case unsupportedSchema(keyword: String, reason: String)
    /// A JSON Schema that is not valid JSON Schema (wrong type for a keyword, bad `$ref`, …).
    case invalidSchema(String)
    /// A rule that is referenced but never defined.
    case undefinedRule(String)
    /// A rule that is defined twice.
    case duplicateRule(String)
    /// Left recursion (the rules of the cycle are named): the byte-level automaton cannot run it.
    case leftRecursion([String])
    /// The grammar matches nothing at all.
    case empty(String)
    /// The compiled grammar would exceed the size limit (rules or elements).
    case tooLarge(String)

    public var description: String {
        switch self {
        case .syntax(let m, let offset): "grammar syntax error at offset \(offset): \(m)"
        case .regex(let m, let offset): "regex error at offset \(offset): \(m)"
        case .unsupportedSchema(let keyword, let reason): "JSON Schema keyword '\(keyword)' is not supported: \(reason)"
        case .invalidSchema(let m): "invalid JSON Schema: \(m)"
        case .undefinedRule(let name): "grammar rule '\(name)' is referenced but not defined"
        case .duplicateRule(let name): "grammar rule '\(name)' is defined twice"
        case .leftRecursion(let names): "grammar is left-recursive through \(names.joined(separator: " -> "))"
        case .empty(let m): "grammar matches nothing: \(m)"
        case .tooLarge(let m): "grammar is too large: \(m)"
        }
    }
}
