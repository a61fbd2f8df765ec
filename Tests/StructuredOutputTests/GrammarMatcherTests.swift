import Testing
@testable import StructuredOutput

@Suite struct GrammarMatcherTests {
    func grammar(_ rules: [(String, GrammarExpr)]) throws -> Grammar {
        try Grammar(GrammarDefinition(rules: rules.map { (name: $0.0, expr: $0.1) }))
    }

    @Test func literalsChoicesAndRepeats() throws {
        let g = try grammar([("root", .sequence([.text("a"), .choice([.text("b"), .text("cd")]), .repeat(.text("x"), min: 1, max: 3)]))])
        for s in ["abx", "acdxxx", "abxx"] { #expect(GrammarMatcher.matches(g, s), "\(s)") }
        for s in ["ab", "ax", "abxxxx", "acx ", ""] { #expect(!GrammarMatcher.matches(g, s), "\(s)") }
    }

    @Test func unicodeClassesMatchWholeCharactersByteByByte() throws {
        let g = try grammar([("root", .star(.characters([0x61...0x7A, 0x4E00...0x9FFF], negated: false)))])
        #expect(GrammarMatcher.matches(g, "abc中文z"))
        #expect(!GrammarMatcher.matches(g, "aé"))
        let m = GrammarMatcher(grammar: g)
        let bytes = Array("中".utf8)
        #expect(m.accept(bytes: bytes.prefix(2)))  // a token may end inside a character
        #expect(!m.canTerminate)
        #expect(m.accept(bytes: bytes.suffix(1)))
        #expect(m.canTerminate)
        let negated = try grammar([("root", .plus(.characters([0x22...0x22, 0x5C...0x5C], negated: true)))])
        #expect(GrammarMatcher.matches(negated, "héllo wörld 🙂"))
        #expect(!GrammarMatcher.matches(negated, "a\"b"))
        #expect(!GrammarMatcher.matches(negated, String(decoding: [0xED, 0xA0, 0x80], as: UTF8.self) + "\u{FFFF}x\\"))
    }

    @Test func recursionThroughReferences() throws {
        let g = try grammar([
            ("root", .reference("list")),
            ("list", .sequence([.text("["), .optional(.sequence([.reference("item"), .star(.sequence([.text(","), .reference("item")]))])), .text("]")])),
            ("item", .choice([.text("1"), .reference("list")])),
        ])
        for s in ["[]", "[1]", "[1,[1,[]],1]", "[[[[]]]]"] { #expect(GrammarMatcher.matches(g, s), "\(s)") }
        for s in ["[", "[1,]", "[[]", "]"] { #expect(!GrammarMatcher.matches(g, s), "\(s)") }
    }

    @Test func rollbackRestoresEarlierStates() throws {
        let g = try grammar([("root", .sequence([.text("ab"), .choice([.text("c"), .text("d")])]))])
        let m = GrammarMatcher(grammar: g)
        #expect(m.accept(bytes: Array("a".utf8)))
        #expect(m.accept(bytes: Array("b".utf8)))
        #expect(m.accept(bytes: Array("c".utf8)))
        #expect(m.acceptEnd())
        #expect(m.isTerminated)
        m.rollback(2)
        #expect(!m.isTerminated)
        #expect(!m.accept(bytes: Array("x".utf8)))
        #expect(m.accept(bytes: Array("d".utf8)))
        #expect(m.canTerminate)
        m.reset()
        #expect(m.numAcceptedTokens == 0)
        #expect(m.allows(bytes: Array("abd".utf8)))
    }

    /// Cycles of references in tail position (a repeat of something that can be empty, or rules
    /// that only hand over to each other) terminate: no frame accumulates on them.
    @Test func tailCyclesAreNotLeftRecursion() throws {
        let star = try Grammar(GBNFParser.parse(#"root ::= ("a"?)* "b""#))
        for s in ["b", "ab", "aaab"] { #expect(GrammarMatcher.matches(star, s), "\(s)") }
        #expect(!GrammarMatcher.matches(star, "ba"))
        let handOver = try grammar([("root", .reference("x")), ("x", .choice([.reference("root"), .text("b")]))])
        #expect(GrammarMatcher.matches(handOver, "b"))
        #expect(!GrammarMatcher.matches(handOver, "bb"))
        #expect(throws: GrammarError.leftRecursion(["root", "x", "root"])) {
            try grammar([("root", .sequence([.reference("x"), .text("c")])), ("x", .choice([.reference("root"), .text("b")]))])
        }
    }

    @Test func compileErrorsNameTheProblem() throws {
        #expect(throws: GrammarError.undefinedRule("nope")) { try grammar([("root", .reference("nope"))]) }
        #expect(throws: GrammarError.duplicateRule("a")) { try grammar([("root", .reference("a")), ("a", .text("x")), ("a", .text("y"))]) }
        #expect(throws: GrammarError.leftRecursion(["a", "a"])) {
            try grammar([("root", .reference("a")), ("a", .choice([.sequence([.reference("a"), .text("x")]), .text("y")]))])
        }
        #expect(throws: GrammarError.self) { try grammar([("root", .sequence([.text("a"), .reference("root")]))]) }
    }
}
