import Foundation
import GGUF
import Synchronization
import TestSupport
import Testing
import Tokenization
@testable import StructuredOutput

/// Token masks from the adaptive mask cache against a brute-force mask (every token's bytes
/// tried on the matcher), on a synthetic vocabulary full of awkward tokens and on SmolLM2's.
@Suite struct TokenMaskTests {
    // MARK: - Fixtures

    static func grammar(_ rules: [(String, GrammarExpr)]) throws -> Grammar {
        try Grammar(GrammarDefinition(rules: rules.map { (name: $0.0, expr: $0.1) }))
    }

    static func chars(_ text: String) -> GrammarExpr {
        .characters(text.unicodeScalars.map { $0.value...$0.value }, negated: false)
    }

    /// JSON, written the way a schema front end would: nested objects and arrays, strings of
    /// `[^"\\]` with escapes, numbers, literals, whitespace on both sides of each separator.
    static func json() throws -> Grammar {
        let ws = GrammarExpr.star(chars(" \t\n"))
        let digits = GrammarExpr.plus(.characters([0x30...0x39], negated: false))
        return try grammar([
            ("root", .sequence([.reference("ws"), .reference("value"), .reference("ws")])),
            ("value", .choice([.reference("object"), .reference("array"), .reference("string"), .reference("number"),
                               .text("true"), .text("false"), .text("null")])),
            ("object", .sequence([.text("{"), .reference("ws"),
                                  .optional(.sequence([.reference("member"),
                                                       .star(.sequence([.reference("ws"), .text(","), .reference("ws"), .reference("member")]))])),
                                  .reference("ws"), .text("}")])),
            ("member", .sequence([.reference("string"), .reference("ws"), .text(":"), .reference("ws"), .reference("value")])),
            ("array", .sequence([.text("["), .reference("ws"),
                                 .optional(.sequence([.reference("value"),
                                                      .star(.sequence([.reference("ws"), .text(","), .reference("ws"), .reference("value")]))])),
                                 .reference("ws"), .text("]")])),
            ("string", .sequence([.text("\""), .star(.reference("char")), .text("\"")])),
            ("char", .choice([.characters([0x22...0x22, 0x5C...0x5C, 0x00...0x1F], negated: true),
                              .sequence([.text("\\"), .choice([chars("\"\\/bfnrt"),
                                                               .sequence([.text("u"), .repeat(.reference("hex"), min: 4, max: 4)])])])])),
            ("hex", .characters([0x30...0x39, 0x61...0x66, 0x41...0x46], negated: false)),
            ("number", .sequence([.optional(.text("-")),
                                  .choice([.text("0"), .sequence([.characters([0x31...0x39], negated: false), .star(.characters([0x30...0x39], negated: false))])]),
                                  .optional(.sequence([.text("."), digits])),
                                  .optional(.sequence([chars("eE"), .optional(chars("+-")), digits]))])),
            ("ws", ws),
        ])
    }

    /// Alternatives that share prefixes, multi-byte literals and right recursion.
    static func alternatives() throws -> Grammar {
        try grammar([
            ("root", .sequence([.reference("item"), .star(.sequence([.text(","), .reference("item")]))])),
            ("item", .choice([.text("ab"), .text("abc"), .text("中文"), .plus(.text("é")), .reference("list"), .text("\"x\"")])),
            ("list", .sequence([.text("["), .optional(.sequence([.reference("item"), .star(.sequence([.text(", "), .reference("item")]))])), .text("]")])),
        ])
    }

    /// A root that may end early and go on, over any character but a few.
    static func openText() throws -> Grammar {
        try grammar([("root", .sequence([.star(.characters([0x22...0x22, 0x7B...0x7D], negated: true)),
                                          .optional(.sequence([.text("{"), .reference("root"), .text("}")]))]))])
    }

    /// Short strings of bounded length in a list (a schema's maxLength): each position of the
    /// repetition is a context of its own, and tokens longer than what is left die in it.
    static func boundedStrings() throws -> Grammar {
        let string = GrammarExpr.sequence([.text("\""), .repeat(.characters([0x22...0x22, 0x5C...0x5C], negated: true), min: 0, max: 3), .text("\"")])
        return try grammar([("root", .sequence([.text("["), string, .repeat(.sequence([.text(","), string]), min: 0, max: nil), .text("]")]))])
    }

    static let grammars: [(String, @Sendable () throws -> Grammar)] = [
        ("json", json), ("alternatives", alternatives), ("openText", openText), ("boundedStrings", boundedStrings),
    ]

    /// Tokens that end inside UTF-8 characters, span rule boundaries (`",`, `"}`), repeat a
    /// prefix, plus a control token, an end-of-sequence token and an empty piece.
    static let synthetic: TokenizerInfo = {
        var pieces: [[UInt8]] = [Array("<|im_start|>".utf8), Array("<|endoftext|>".utf8), []]
        for b in UInt8(0x20)...UInt8(0x7E) { pieces.append([b]) }
        pieces += [[0x0A], [0x09], [0xC3], [0xA9], [0xE4], [0xB8], [0xAD], [0xE6], [0x96], [0x87], [0xF0], [0x9F], [0x99], [0x82], [0xFF], [0x80]]
        let texts = [
            "\",", "\"}", "\":", "{\"", "\"]", "\"\n", "\",\"", "},", "}]", "}}", "],", "[{", "[\"", ", ", ",\n", ": ", ":\"", " \"",
            "\n  ", "  ", "true", "tr", "ue", "false", "null", "nu", "12", "3.", ".5", "e-", "E+", "0.", "-1", "10", "abc", "ab",
            "hello", " world", "a\"", "b\",", "x\"}", "\\n", "\\\"", "\\u", "00e9", "\\u00", "é", "中", "文", "中文", "é\"", "éé",
            "🙂", "{}", "[]", "{\"a\":", "\"a\":1", "1}", "1,", "ok", "ok\"", "\"x\"", ",[", "], ", "ab,", "c,", "{ab", "}}}",
            "\"\"", "[]]", "中文,", "ab]",
        ]
        pieces += texts.map { Array($0.utf8) }
        pieces += [[0xE4, 0xB8], [0xB8, 0xAD], [0xAD, 0x22], [0xA9, 0x22, 0x2C], [0xF0, 0x9F], [0x99, 0x82, 0x22],
                   [0x9F, 0x99, 0x82], [0xC3, 0xA9, 0xC3], [0xAD, 0xE6, 0x96], [0x87, 0x2C], [0x22, 0xE4]]
        pieces.append(Array("<|im_end|>".utf8))
        let end = pieces.count - 1
        return TokenizerInfo(tokenBytes: pieces, specialTokenIds: [0, end], stopTokenIds: [1, end])
    }()

    /// SmolLM2's tokenizer, from the default model.
    static let smol: Result<Tokenizer, any Error> = Result { try Tokenizer(metadata: GGUFFile(path: TestPaths.defaultModel).metadata) }

    /// What a mask must be: each token's bytes tried on the matcher.
    static func bruteForce(_ matcher: GrammarMatcher, _ info: TokenizerInfo) -> TokenBitmask {
        var mask = TokenBitmask(vocabSize: info.vocabSize)
        guard !matcher.isTerminated else { return mask }
        for id in 0..<info.vocabSize {
            if info.isStopToken(id) {
                mask[id] = matcher.canTerminate
            } else if !info.isSpecialToken(id) && matcher.allows(bytes: info.tokenBytes(id)) {
                mask[id] = true
            }
        }
        return mask
    }

    static func describe(_ a: TokenBitmask, _ b: TokenBitmask, _ info: TokenizerInfo) -> String {
        let extra = Set(a.allowedTokenIds).subtracting(b.allowedTokenIds).sorted().prefix(8)
        let missing = Set(b.allowedTokenIds).subtracting(a.allowedTokenIds).sorted().prefix(8)
        func show(_ ids: ArraySlice<Int>) -> String {
            ids.map { "\($0):\(String(decoding: info.tokenBytes($0), as: UTF8.self).debugDescription)" }.joined(separator: " ")
        }
        return "mask allows too much [\(show(extra))], too little [\(show(missing))]"
    }

    // MARK: - Synthetic vocabulary

    @Test(arguments: [0, 1, 2, 4])
    func randomWalksMatchBruteForce(contextDepth: Int) throws {
        let info = Self.synthetic
        for (name, make) in Self.grammars {
            let compiled = CompiledGrammar(grammar: try make(), tokenizerInfo: info, contextDepth: contextDepth)
            for seed in UInt64(1)...12 {
                var random = SeededRandom(seed: seed &* 7919 &+ UInt64(contextDepth))
                let matcher = GrammarMatcher(compiled: compiled)
                var mask = TokenBitmask(vocabSize: info.vocabSize)
                for step in 0..<40 {
                    matcher.fillNextTokenBitmask(&mask)
                    let expected = Self.bruteForce(matcher, info)
                    #expect(mask == expected, "\(name) seed \(seed) step \(step): \(Self.describe(mask, expected, info))")
                    guard mask == expected else { return }
                    // Prefer grammar tokens over the end so walks go deep.
                    var allowed = mask.allowedTokenIds
                    if allowed.contains(where: { !info.isStopToken($0) }) { allowed.removeAll { info.isStopToken($0) } }
                    guard let id = allowed.randomElement(using: &random) else { break }
                    #expect(matcher.acceptToken(id), "\(name) seed \(seed) step \(step): token \(id) in the mask but refused")
                    if matcher.isTerminated { break }
                }
            }
        }
    }

    @Test func specialAndStopTokens() throws {
        let info = Self.synthetic
        let compiled = CompiledGrammar(grammar: try Self.alternatives(), tokenizerInfo: info)
        let matcher = GrammarMatcher(compiled: compiled)
        var mask = matcher.nextTokenBitmask()
        #expect(!mask[0] && !mask[1] && !mask[2] && !mask[info.vocabSize - 1])
        #expect(!matcher.acceptToken(0))
        #expect(!matcher.acceptToken(1))  // the end, before a complete match
        #expect(!matcher.acceptToken(2))  // an empty piece
        #expect(!matcher.acceptToken(-1) && !matcher.acceptToken(info.vocabSize))
        #expect(matcher.numAcceptedTokens == 0)
        #expect(matcher.acceptTokens(["ab", "c"].map { Self.id(of: $0, in: info) }) == 2)
        matcher.fillNextTokenBitmask(&mask)
        #expect(mask[1] && mask[info.vocabSize - 1] && !mask[0])
        #expect(matcher.acceptToken(info.vocabSize - 1))  // <|im_end|>: stop beats special
        #expect(matcher.isTerminated)
        matcher.fillNextTokenBitmask(&mask)
        #expect(mask.allowedCount == 0)
    }

    @Test func rollbackGivesTheSameMasks() throws {
        let info = Self.synthetic
        let compiled = CompiledGrammar(grammar: try Self.json(), tokenizerInfo: info)
        let matcher = GrammarMatcher(compiled: compiled)
        let text = ["{\"", "a", "\":", " ", "[", "12", ",", " ", "\"", "中", "文", "\",", "{\"a\":", "tr", "ue", "}]", "}"]
        var masks: [TokenBitmask] = []
        for piece in text {
            masks.append(matcher.nextTokenBitmask())
            #expect(matcher.acceptToken(Self.id(of: piece, in: info)), "\(piece)")
        }
        masks.append(matcher.nextTokenBitmask())
        #expect(matcher.acceptToken(1))
        #expect(matcher.nextTokenBitmask().allowedCount == 0)
        for back in [1, 3, 2, 5, 7] where back <= matcher.numAcceptedTokens {
            matcher.rollback(back)
            let n = matcher.numAcceptedTokens
            let mask = matcher.nextTokenBitmask()
            #expect(mask == masks[n], "after rolling back to \(n) tokens")
            #expect(mask == Self.bruteForce(matcher, info))
            // Going forward again along the text gives the same masks too.
            if n < text.count {
                #expect(matcher.acceptToken(Self.id(of: text[n], in: info)))
                #expect(matcher.nextTokenBitmask() == masks[n + 1])
            }
        }
        matcher.reset()
        #expect(matcher.nextTokenBitmask() == masks[0])
    }

    @Test func masksWiderOrNarrowerThanTheVocabulary() throws {
        let info = Self.synthetic
        let matcher = GrammarMatcher(compiled: CompiledGrammar(grammar: try Self.openText(), tokenizerInfo: info))
        #expect(matcher.acceptToken(Self.id(of: "ab", in: info)))
        let exact = matcher.nextTokenBitmask()
        #expect(exact.allowedCount > 100 && exact[info.vocabSize - 1])
        var wide = TokenBitmask(vocabSize: info.vocabSize + 70, allowed: true)
        matcher.fillNextTokenBitmask(&wide)
        #expect(wide.allowedTokenIds == exact.allowedTokenIds)
        var narrow = TokenBitmask(vocabSize: info.vocabSize - 5, allowed: true)
        matcher.fillNextTokenBitmask(&narrow)
        #expect(narrow.allowedTokenIds == exact.allowedTokenIds.filter { $0 < info.vocabSize - 5 })
        #expect(narrow.words.last! >> UInt64(narrow.vocabSize % 64) == 0)
    }

    @Test func tokenizerInfoKeepsTrieOrder() {
        let info = Self.synthetic
        #expect(info.stopTokenIds == [1, info.vocabSize - 1])
        #expect(info.specialTokenIds == [0, 2])
        for i in 1..<info.sortedIds.count {
            let a = Array(info.tokenBytes(Int(info.sortedIds[i - 1]))), b = Array(info.tokenBytes(Int(info.sortedIds[i])))
            #expect(!b.lexicographicallyPrecedes(a))
            let shared = zip(a, b).prefix { $0 == $1 }.count
            #expect(Int(info.sharedPrefix[i]) == shared)
        }
        #expect(info.grammarTokenCount == info.vocabSize - 4)
        // The walk's copies: bytes in trie order, and each token's subtree (the tokens it prefixes).
        for (i, id) in info.sortedIds.enumerated() {
            let bytes = Array(info.tokenBytes(Int(id)))
            #expect(Array(info.sortedBytes[Int(info.sortedStarts[i])..<Int(info.sortedStarts[i + 1])]) == bytes)
            let end = Int(info.subtreeEnd[i])
            #expect(end > i && end <= info.sortedIds.count)
            for j in (i + 1)..<max(end, i + 1) { #expect(info.tokenBytes(Int(info.sortedIds[j])).starts(with: bytes)) }
            if end < info.sortedIds.count { #expect(!info.tokenBytes(Int(info.sortedIds[end])).starts(with: bytes)) }
        }
        #expect(info.maxTokenLength == info.sortedIds.map { info.tokenBytes(Int($0)).count }.max())
    }

    /// Matchers on several threads fill one grammar's cache at once (one of them builds with the
    /// shared builder, the others with fresh ones, and checked stacks are shared): every mask
    /// still equals the brute-force one.
    @Test func concurrentMatchersShareOneCache() throws {
        let info = Self.synthetic
        let compiled = CompiledGrammar(grammar: try Self.json(), tokenizerInfo: info)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { seed in
            var random = SeededRandom(seed: UInt64(seed) &+ 101)
            let matcher = GrammarMatcher(compiled: compiled)
            var mask = TokenBitmask(vocabSize: info.vocabSize)
            for _ in 0..<30 {
                matcher.fillNextTokenBitmask(&mask)
                if mask != Self.bruteForce(matcher, info) { failures.withLock { $0 += 1 } }
                guard let id = mask.allowedTokenIds.filter({ !info.isStopToken($0) }).randomElement(using: &random) else { break }
                matcher.acceptToken(id)
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(compiled.cacheStatistics.contexts > 0)
    }

    @Test func bitmaskAppliesToLogits() {
        var mask = TokenBitmask(vocabSize: 200)
        for id in [0, 5, 63, 64, 127, 128, 130, 199] { mask[id] = true }
        for id in 64..<128 { mask[id] = true }
        #expect(mask.allowedCount == 70)
        var logits = [Float](repeating: 1, count: 210)  // a padded vocabulary
        mask.apply(to: &logits)
        for (id, logit) in logits.enumerated() {
            #expect((logit == 1) == (id < 200 && mask[id]), "\(id)")
        }
        var short = [Float](repeating: 1, count: 100)
        mask.apply(to: &short)
        #expect(short.enumerated().allSatisfy { ($0.element == 1) == mask[$0.offset] })
        #expect(TokenBitmask(vocabSize: 70, allowed: true).allowedCount == 70)
        #expect(TokenBitmask(vocabSize: 70, allowing: [3, 69, 70]).allowedTokenIds == [3, 69])
    }

    static func id(of text: String, in info: TokenizerInfo) -> Int {
        let bytes = Array(text.utf8)
        return (0..<info.vocabSize).first { !info.isSpecialToken($0) && !info.isStopToken($0) && Array(info.tokenBytes($0)) == bytes }!
    }

    // MARK: - SmolLM2's vocabulary

    static let document = #"{"name": "Zoë \"Ω\" 中文 🙂", "tags": ["a\\b", "", "x y"], "n": -12.5e3, "ok": true, "#
        + #""nested": {"list": [1, 20, {"deep": null}], "empty": {}}, "f": false}"#

    @Test func smolLM2MasksMatchBruteForce() throws {
        let tokenizer = try Self.smol.get()
        let info = TokenizerInfo(tokenizer: tokenizer)
        #expect(info.vocabSize == 49_152)
        #expect(!info.stopTokenIds.isEmpty && info.stopTokenIds.allSatisfy { tokenizer.isEndOfGeneration($0) })
        let compiled = CompiledGrammar(grammar: try Self.json(), tokenizerInfo: info)
        let tokens = tokenizer.encode(Self.document, addSpecial: false)
        #expect(tokenizer.decode(tokens) == Self.document)
        let matcher = GrammarMatcher(compiled: compiled)
        var mask = TokenBitmask(vocabSize: info.vocabSize)
        // A handful of states: inside strings (after a split multi-byte character too), after
        // keys, inside numbers, between members, and at the end.
        let checkpoints: Set<Int> = [0, 1, 3, 6, 9, 14, 22, 30, tokens.count]
        for (index, id) in tokens.enumerated() {
            matcher.fillNextTokenBitmask(&mask)
            #expect(mask[id], "token \(index)")
            if checkpoints.contains(index) {
                let expected = Self.bruteForce(matcher, info)
                #expect(mask == expected, "token \(index): \(Self.describe(mask, expected, info))")
            }
            #expect(matcher.acceptToken(id))
        }
        #expect(matcher.canTerminate)
        matcher.fillNextTokenBitmask(&mask)
        #expect(mask == Self.bruteForce(matcher, info))
        for stop in info.stopTokenIds { #expect(mask[stop]) }
        #expect(compiled.cacheStatistics.uncertainTokens > 0)  // the run-time check ran too

        // A short random walk from the middle of a string.
        var random = SeededRandom(seed: 42)
        matcher.reset()
        #expect(matcher.acceptTokens(tokenizer.encode(#"{"a": "x"#, addSpecial: false)) > 0)
        for step in 0..<4 {
            matcher.fillNextTokenBitmask(&mask)
            let expected = Self.bruteForce(matcher, info)
            #expect(mask == expected, "walk step \(step): \(Self.describe(mask, expected, info))")
            guard let id = mask.allowedTokenIds.filter({ !info.isStopToken($0) }).randomElement(using: &random) else { break }
            #expect(matcher.acceptToken(id))
        }
    }

    @Test func smolLM2Benchmark() throws {
        let tokenizer = try Self.smol.get()
        let compiled = CompiledGrammar(grammar: try Self.json(), tokenizerInfo: TokenizerInfo(tokenizer: tokenizer))
        let tokens = tokenizer.encode(Self.document + " ", addSpecial: false)
        let result = try GrammarBenchmark.run(compiled, tokens: tokens)
        #expect(result.masks == tokens.count + 1)
        #expect(result.cache.contexts > 0)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print("GrammarBenchmark json over SmolLM2:", String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}
