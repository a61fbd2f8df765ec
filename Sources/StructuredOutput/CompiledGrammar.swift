/// A grammar ready to constrain one model's output: the compiled ``Grammar``, the model's
/// ``TokenizerInfo`` and the grammar's adaptive token mask cache (XGrammar's `CompiledGrammar`).
///
/// Make one per (grammar, tokenizer) and share it: every ``GrammarMatcher`` made with
/// ``GrammarMatcher/init(compiled:)`` reads and fills the same cache, which is computed lazily,
/// one stack context at a time, the first time a matcher's stack has that top.
///
/// ```swift
/// let compiled = try CompiledGrammar(definition: definition, tokenizerInfo: TokenizerInfo(tokenizer: tokenizer))
/// let matcher = GrammarMatcher(compiled: compiled)
/// var mask = TokenBitmask(vocabSize: compiled.tokenizerInfo.vocabSize)
/// matcher.fillNextTokenBitmask(&mask)
/// ```
public final class CompiledGrammar: Sendable {
    public let grammar: Grammar
    public let tokenizerInfo: TokenizerInfo
    /// How many return frames under a stack top a cached mask is keyed by. 0 is XGrammar's key,
    /// the top alone, but compiled character classes and repetitions are small rules of their
    /// own, so with 0 nearly every token inside a JSON string leaves its rule and must be checked
    /// against the real stack (tens of milliseconds a mask over a 49k vocabulary). With 2 (the
    /// default) few tokens are left uncertain, for about three times as many cached contexts.
    public let contextDepth: Int
    let cache = TokenMaskCache()
    /// Per grammar position: whether its element is an `.end` (a return frame at such a position
    /// returns at once, so contexts skip it).
    let isEndPosition: [Bool]

    /// The default ``contextDepth``.
    public static let defaultContextDepth = 2

    /// Pairs `grammar` with a vocabulary.
    ///
    /// - Parameter contextDepth: frames under a stack top that key the mask cache, clamped to `0...4`.
    public init(grammar: Grammar, tokenizerInfo: TokenizerInfo, contextDepth: Int = CompiledGrammar.defaultContextDepth) {
        self.grammar = grammar
        self.tokenizerInfo = tokenizerInfo
        self.contextDepth = min(max(contextDepth, 0), MaskContext.maxFrames)
        isEndPosition = grammar.elements.map { if case .end = $0 { true } else { false } }
    }

    /// Compiles `definition` and pairs it with a vocabulary.
    public convenience init(definition: GrammarDefinition, tokenizerInfo: TokenizerInfo,
                            contextDepth: Int = CompiledGrammar.defaultContextDepth) throws(GrammarError) {
        self.init(grammar: try Grammar(definition), tokenizerInfo: tokenizerInfo, contextDepth: contextDepth)
    }

    /// What the token mask cache holds now.
    public var cacheStatistics: TokenMaskCacheStatistics { cache.statistics }

    /// Drops every cached mask (for benchmarks; matchers made earlier keep the masks they hold).
    public func clearCache() { cache.removeAll() }

    /// The adaptive mask of `context`, computed on first use.
    func adaptiveMask(for context: MaskContext) -> AdaptiveTokenMask {
        cache.mask(for: context, grammar: grammar, info: tokenizerInfo)
    }
}
