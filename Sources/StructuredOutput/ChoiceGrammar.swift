/// The grammar of vLLM's `structured_outputs.choice`: the output is exactly one of a list of strings.
public enum ChoiceGrammar {
    /// A grammar whose output is exactly one of `options`.
    ///
    /// Options are matched as whole strings; an empty string is allowed as an option, and
    /// repeated options count once.
    ///
    /// - Throws: ``GrammarError/empty(_:)`` when `options` is empty (no output could match).
    public static func choice(_ options: [String]) throws(GrammarError) -> GrammarDefinition {
        guard !options.isEmpty else { throw .empty("a choice needs at least one option") }
        var seen = Set<String>()
        let unique = options.filter { seen.insert($0).inserted }
        return GrammarDefinition(unique.count == 1 ? .text(unique[0]) : .choice(unique.map(GrammarExpr.text)))
    }
}
