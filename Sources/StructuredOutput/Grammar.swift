/// A compiled grammar: rules of alternatives, each alternative a run of elements that are
/// either one byte from a set or a reference to a rule, stored flat so that a position in the
/// grammar is one integer (the pushdown automaton's state is a stack of such positions).
///
/// Compile one with ``init(_:)`` from a ``GrammarDefinition``; front ends build definitions
/// from GBNF text, regular expressions and JSON Schemas.
public struct Grammar: Sendable {
    /// What sits at a position.
    public enum Element: Hashable, Sendable {
        /// One byte from the set.
        case bytes(ByteSet)
        /// A whole match of the rule.
        case rule(Int32)
        /// The end of an alternative of the rule.
        case end(Int32)
    }

    /// Every alternative of every rule, each followed by its `.end`.
    public internal(set) var elements: [Element] = []
    /// The first position of each alternative of each rule.
    public internal(set) var alternatives: [[Int32]] = []
    /// Rule names (anonymous rules made by the compiler are named after their parent).
    public internal(set) var ruleNames: [String] = []
    public internal(set) var root: Int32 = 0

    /// Most elements a compiled grammar may have.
    public static let maxElements = 500_000

    public var numRules: Int { alternatives.count }

    /// Compiles `definition`: resolves names, lowers choices and repetitions into rules, checks
    /// for undefined and duplicate rules, left recursion and an empty language.
    public init(_ definition: GrammarDefinition) throws(GrammarError) {
        var compiler = GrammarCompiler(definition)
        self = try compiler.compile()
    }

    init() {}
}
