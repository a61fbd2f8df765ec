/// A grammar expression: the common language every front end (GBNF, regex, JSON Schema) writes
/// and ``Grammar`` compiles to a byte-level pushdown automaton.
///
/// Characters are Unicode scalars matched as their UTF-8 bytes, so a token that ends in the
/// middle of a character leaves the automaton inside that character.
public indirect enum GrammarExpr: Hashable, Sendable {
    /// Exactly these bytes (the UTF-8 of a literal string).
    case literal([UInt8])
    /// One Unicode scalar inside (or, when `negated`, outside) the ranges.
    case characters([ClosedRange<UInt32>], negated: Bool)
    /// One byte from the set (for byte-level grammars; most front ends use `characters`).
    case bytes(ByteSet)
    /// Each part in turn; the empty sequence matches the empty string.
    case sequence([GrammarExpr])
    /// Any one of the alternatives.
    case choice([GrammarExpr])
    /// `expr` at least `min` and at most `max` times (nil: unbounded).
    case `repeat`(GrammarExpr, min: Int, max: Int?)
    /// The rule with this name in the same ``GrammarDefinition``.
    case reference(String)

    /// Matches only the empty string.
    public static let empty = GrammarExpr.sequence([])

    /// The UTF-8 bytes of `text`.
    public static func text(_ text: String) -> GrammarExpr { .literal(Array(text.utf8)) }

    /// Any one Unicode scalar.
    public static let anyCharacter = GrammarExpr.characters([], negated: true)

    public static func optional(_ expr: GrammarExpr) -> GrammarExpr { .repeat(expr, min: 0, max: 1) }
    public static func star(_ expr: GrammarExpr) -> GrammarExpr { .repeat(expr, min: 0, max: nil) }
    public static func plus(_ expr: GrammarExpr) -> GrammarExpr { .repeat(expr, min: 1, max: nil) }
}

/// Named rules and the rule a match starts from.
public struct GrammarDefinition: Sendable, Equatable {
    /// Rules in definition order (the order only matters for error messages).
    public var rules: [(name: String, expr: GrammarExpr)]
    public var root: String

    public init(rules: [(name: String, expr: GrammarExpr)] = [], root: String = "root") {
        self.rules = rules
        self.root = root
    }

    /// A grammar of one rule.
    public init(_ expr: GrammarExpr) {
        self.init(rules: [("root", expr)], root: "root")
    }

    public mutating func define(_ name: String, _ expr: GrammarExpr) {
        rules.append((name, expr))
    }

    public func contains(_ name: String) -> Bool { rules.contains { $0.name == name } }

    public static func == (a: GrammarDefinition, b: GrammarDefinition) -> Bool {
        a.root == b.root && a.rules.count == b.rules.count
            && zip(a.rules, b.rules).allSatisfy { $0.name == $1.name && $0.expr == $1.expr }
    }
}
