import Foundation
import StructuredOutput
import Synchronization
import Tokenization

/// Compiles output constraints into grammars over this tokenizer's vocabulary and keeps them
/// (vLLM's `StructuredOutputManager`): a grammar is compiled once per distinct constraint, its
/// token masks are filled in as requests reach new grammar positions, and every request gets
/// its own matcher over the shared compiled grammar.
public final class StructuredOutputManager: Sendable {
    public let tokenizer: Tokenizer
    /// Most compiled grammars kept; the oldest is dropped past it.
    public let capacity: Int
    private let info: Mutex<TokenizerInfo?> = Mutex(nil)
    private let cache: Mutex<(grammars: [StructuredOutputsParams: CompiledGrammar], order: [StructuredOutputsParams])> = Mutex(([:], []))

    public init(tokenizer: Tokenizer, capacity: Int = 256) {
        self.tokenizer = tokenizer
        self.capacity = capacity
    }

    /// The vocabulary as the grammar masks see it (built on first use).
    public var tokenizerInfo: TokenizerInfo {
        info.withLock { info in
            if let info { return info }
            let made = TokenizerInfo(tokenizer: tokenizer)
            info = made
            return made
        }
    }

    /// The compiled grammar for `params`, from the cache or compiled now.
    public func compile(_ params: StructuredOutputsParams) throws(GrammarError) -> CompiledGrammar {
        if let hit = cache.withLock({ $0.grammars[params] }) { return hit }
        let grammar = try Grammar(Self.definition(for: params))
        let compiled = CompiledGrammar(grammar: grammar, tokenizerInfo: tokenizerInfo)
        cache.withLock { cache in
            if cache.grammars[params] == nil {
                cache.order.append(params)
                if cache.order.count > capacity { cache.grammars[cache.order.removeFirst()] = nil }
            }
            cache.grammars[params] = compiled
        }
        return compiled
    }

    /// The grammar definition a constraint stands for.
    public static func definition(for params: StructuredOutputsParams) throws(GrammarError) -> GrammarDefinition {
        switch params {
        case .json(let schema):
            let value: JSONValue
            do { value = try JSONValue(parsing: Data(schema.utf8)) } catch { throw .invalidSchema("the schema is not valid JSON: \(error)") }
            return try JSONSchemaConverter.definition(for: value)
        case .jsonObject:
            return JSONSchemaConverter.anyJSON()
        case .regex(let pattern):
            return try RegexParser.parseDefinition(pattern)
        case .choice(let options):
            return try ChoiceGrammar.choice(options)
        case .grammar(let text):
            return try GBNFParser.parse(text)
        }
    }
}
