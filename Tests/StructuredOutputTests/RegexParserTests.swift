import Foundation
import Testing
@testable import StructuredOutput

@Suite struct RegexParserTests {
    func regex(_ pattern: String) throws -> Grammar {
        try Grammar(RegexParser.parseDefinition(pattern))
    }

    func check(_ pattern: String, accepts: [String], rejects: [String],
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let g = try regex(pattern)
        for s in accepts {
            #expect(GrammarMatcher.matches(g, s), "/\(pattern)/ should accept \(s.debugDescription)",
                    sourceLocation: sourceLocation)
        }
        for s in rejects {
            #expect(!GrammarMatcher.matches(g, s), "/\(pattern)/ should reject \(s.debugDescription)",
                    sourceLocation: sourceLocation)
        }
    }

    /// The regex error of `pattern` as (message, offset), or nil when it parses.
    func regexError(_ pattern: String) -> (message: String, offset: Int)? {
        do {
            _ = try RegexParser.parse(pattern)
            return nil
        } catch {
            if case .regex(let message, let offset) = error { return (message, offset) }
            return ("not a regex error: \(error)", -1)
        }
    }

    // MARK: - Realistic patterns

    @Test func dates() throws {
        try check(#"^\d{4}-\d{2}-\d{2}$"#, accepts: ["2024-01-31", "0000-00-00"],
                  rejects: ["2024-1-31", "24-01-31", "2024-01-31 ", "x2024-01-31", "2024/01/31", "２０２４-01-31"])
    }

    @Test func emails() throws {
        try check(#"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"#,
                  accepts: ["a@b.co", "first.last+tag@sub.example.org", "x_y%z@d-1.io"],
                  rejects: ["@b.co", "a@b", "a@b.c", "a b@c.de", "a@@b.de", "a@b.d3"])
    }

    @Test func phoneNumbers() throws {
        try check(#"\(?\d{3}\)?[-. ]?\d{3}[-.]?\d{4}"#,
                  accepts: ["(555) 123-4567", "555.123.4567", "5551234567", "555-1234567"],
                  rejects: ["555-123-456", "(555)) 123-4567", "555 123 4567", "55a-123-4567"])
        try check(#"^\+?[1-9]\d{1,14}$"#, accepts: ["+14155552671", "442071838750"],
                  rejects: ["+0123", "+1", "1234567890123456", "+1 415"])
    }

    @Test func capitalisedWords() throws {
        try check("[A-Z][a-z]+( [A-Z][a-z]+)*", accepts: ["Ann", "New York", "Rio De Janeiro"],
                  rejects: ["ann", "New york", "New  York", "New York ", "A", "NewYork1"])
    }

    // MARK: - Constructs

    @Test func quantifierBounds() throws {
        try check("a{2,3}", accepts: ["aa", "aaa"], rejects: ["", "a", "aaaa"])
        try check("a{2}", accepts: ["aa"], rejects: ["a", "aaa"])
        try check("a{2,}", accepts: ["aa", "aaaaaaaa"], rejects: ["a"])
        try check("a{,2}", accepts: ["", "a", "aa"], rejects: ["aaa"])
        try check("a{0}b", accepts: ["b"], rejects: ["ab"])
        try check("a*b+c?", accepts: ["b", "aabbc", "bc"], rejects: ["", "a", "ac", "bcc"])
        try check("(ab){1,2}", accepts: ["ab", "abab"], rejects: ["", "aba", "ababab"])
    }

    @Test func lazyQuantifiersMatchTheSameStrings() throws {
        try check("a*?b+?c??d{1,2}?", accepts: ["bd", "aabbcdd"], rejects: ["abcddd", "d"])
    }

    @Test func alternationBindsLoosest() throws {
        try check("ab|cd", accepts: ["ab", "cd"], rejects: ["abd", "acd", "b", "abcd", ""])
        try check("a(b|c)d", accepts: ["abd", "acd"], rejects: ["ab", "cd", "abcd"])
        try check("a|", accepts: ["a", ""], rejects: ["aa"])
        try check("|x|yz", accepts: ["", "x", "yz"], rejects: ["y"])
        try check("(?:ab|c)+", accepts: ["ab", "cab", "abcc"], rejects: ["", "a", "abb"])
        try check("(?<year>\\d{2})-(?<n>x|y)", accepts: ["12-x", "99-y"], rejects: ["1-x", "12-z"])
    }

    @Test func dotExcludesLineTerminators() throws {
        try check("a.c", accepts: ["abc", "a.c", "a😀c", "a\tc"], rejects: ["ac", "a\nc", "a\rc", "a\u{2028}c", "abbc"])
    }

    @Test func escapes() throws {
        try check(#"\d\D\w\W\s\S"#, accepts: ["1a_ \t!", "9ZZ-\u{3000}x"], rejects: ["1a_ xx", "a1_ \tx", "1aé \tx"])
        try check(#"\t\n\r\f\v\0"#, accepts: ["\t\n\r\u{0C}\u{0B}\u{0}"], rejects: ["tnrfv0"])
        try check(#"\/\\\.\*\+\?\(\)\[\]\{\}\|\^\$\-"#, accepts: [#"/\.*+?()[]{}|^$-"#], rejects: ["a"])
        try check(#"\x41\u00e9\u{1F600}\uD83D\uDE00\cJ"#, accepts: ["Aé😀😀\n"], rejects: ["Aé😀\n"])
        try check(#"\"\'\:\@"#, accepts: [#""':@"#], rejects: [])
        try check(#"a{b}c{"#, accepts: ["a{b}c{"], rejects: ["abc"])  // '{' that is no quantifier is literal
        try check("x]y}", accepts: ["x]y}"], rejects: [])
    }

    @Test func characterClasses() throws {
        try check(#"[\d\s_-]+"#, accepts: ["1 _-", "\t9"], rejects: ["a", "1a"])
        try check("[a-cx-z]", accepts: ["a", "b", "z"], rejects: ["d", "w", "A"])
        try check(#"[^"\\]*"#, accepts: ["", "abc 😀", "'"], rejects: ["\"", "a\\b"])
        try check(#"[-a][a-][\d-x]"#, accepts: ["-a1", "a--", "aax"], rejects: ["b-1", "-aw"])
        try check(#"[\b][\]\[][\^^]"#, accepts: ["\u{8}]^", "\u{8}[^"], rejects: ["b]^"])
        try check(#"[^\d\s]+"#, accepts: ["abc", "é!"], rejects: ["a1", "a b", ""])
        try check(#"[\D]"#, accepts: ["a", "é"], rejects: ["1"])
        try check(#"[^\D]"#, accepts: ["5"], rejects: ["a"])
        try check("[^]", accepts: ["a", "\n"], rejects: ["", "ab"])
    }

    @Test func unicodeClasses() throws {
        try check(#"[\u4e00-\u9fff]+"#, accepts: ["中文", "一"], rejects: ["中a", "", "ア"])
        try check("[à-ÿ]{2}", accepts: ["éü", "ÿà"], rejects: ["eu", "ßé"])
        try check(#"[\u{1F600}-\u{1F64F}]"#, accepts: ["😀", "🙏"], rejects: ["🚀", "a"])
        try check(#"[^\u0000-\u007F]+"#, accepts: ["é中😀"], rejects: ["éa"])
    }

    @Test func anchorsAtTheEdgesAreIgnored() throws {
        try check("^abc$", accepts: ["abc"], rejects: ["abcd", "xabc"])
        try check("^a|b$", accepts: ["a", "b"], rejects: ["ab"])
        try check("(^a|^b)c$", accepts: ["ac", "bc"], rejects: ["c"])
        try check("^^a$$", accepts: ["a"], rejects: [""])
        try check("(a|b$)", accepts: ["a", "b"], rejects: [])
    }

    @Test func nullableRepetitionsCompile() throws {
        // A grammar cannot loop over something that may be empty; the parser rewrites these.
        try check("(a?)*b", accepts: ["b", "aaab"], rejects: ["ab?"])
        try check("(a|b?)+c", accepts: ["c", "abbac"], rejects: ["ca"])
        try check("(a*b*)*c", accepts: ["c", "abbac", "bbbc"], rejects: ["cc"])
        try check("(a?b?){2,}", accepts: ["", "ab", "ba", "abab", "bbbb"], rejects: ["c"])
        try check("((a|)b?)+c", accepts: ["c", "abc", "bbc"], rejects: ["ac c"])
        try check("(a{2,})*", accepts: ["", "aa", "aaa", "aaaaa"], rejects: ["a"])
        try check("(a+)+", accepts: ["a", "aaa"], rejects: [""])
        try check("(a{2,}){2,}", accepts: ["aaaa", "aaaaa"], rejects: ["aaa"])
        try check("()*x", accepts: ["x"], rejects: [""])
        try check("(a?){2,3}", accepts: ["", "a", "aaa"], rejects: ["aaaa"])  // bounded: left as written
    }

    @Test func emptyPatternMatchesOnlyEmpty() throws {
        try check("", accepts: [""], rejects: ["a"])
        try check("()", accepts: [""], rejects: ["a"])
    }

    @Test func parseDefinitionHasOneRootRule() throws {
        let def = try RegexParser.parseDefinition("ab|c")
        #expect(def.rules.count == 1)
        #expect(def.root == "root")
        #expect(def.rules[0].expr == .choice([.text("ab"), .text("c")]))
    }

    // MARK: - Errors

    @Test func unsupportedFeaturesNameTheOffset() {
        let cases: [(String, Int, String)] = [
            (#"(a)\1"#, 3, "backreference"),
            (#"(?<x>a)\k<x>"#, 7, "backreference"),
            ("(?=a)b", 0, "lookahead"),
            ("a(?!b)", 1, "lookahead"),
            ("a(?<=b)", 1, "lookbehind"),
            ("a(?<!b)", 1, "lookbehind"),
            (#"a\bc"#, 1, "word boundar"),
            (#"a\B"#, 1, "word boundar"),
            ("a^b", 1, "'^'"),
            ("a$b", 1, "'$'"),
            ("(a$)*", 2, "'$'"),
            ("(a$)b", 2, "'$'"),
            ("x(^a)", 2, "'^'"),
            ("(^a)+", 1, "'^' inside a repeated group"),
            (#"\p{L}"#, 0, "Unicode property"),
            ("(?i)a", 0, "group syntax"),
            ("*a", 0, "nothing to repeat"),
            ("a**", 2, "nothing to repeat"),
            ("a{2}{3}", 4, "nothing to repeat"),
            ("^*", 1, "nothing to repeat"),
            ("(ab", 3, "expected ')'"),
            ("ab)", 2, "unmatched ')'"),
            ("[abc", 0, "unterminated character class"),
            ("a{3,2}", 1, "maximum below its minimum"),
            ("[z-a]", 1, "out of order"),
            (#"\u{110000}"#, 0, "above U+10FFFF"),
            (#"\uD800"#, 0, "lone surrogate"),
            (#"\x4"#, 3, "hex digits"),
            (#"a\"#, 1, "escapes nothing"),
            (#"\q"#, 0, "unknown escape"),
            (#"\01"#, 0, "octal"),
            ("[]", 0, "empty character class"),
            (#"é\b"#, 2, "word boundar"),  // offsets count UTF-8 bytes
            (String(repeating: "(", count: 300) + "a" + String(repeating: ")", count: 300), 256, "nest"),
        ]
        for (pattern, offset, message) in cases {
            let error = regexError(pattern)
            #expect(error?.offset == offset, "/\(pattern)/: \(String(describing: error))")
            #expect(error?.message.contains(message) == true, "/\(pattern)/: \(String(describing: error))")
        }
    }

    // MARK: - Choice helper

    @Test func choiceGrammar() throws {
        let g = try Grammar(ChoiceGrammar.choice(["positive", "negative", "neutral", "positive"]))
        for s in ["positive", "negative", "neutral"] { #expect(GrammarMatcher.matches(g, s)) }
        for s in ["", "pos", "positive ", "Neutral"] { #expect(!GrammarMatcher.matches(g, s)) }
        let one = try Grammar(ChoiceGrammar.choice(["only"]))
        #expect(GrammarMatcher.matches(one, "only"))
        #expect(!GrammarMatcher.matches(one, "onl"))
        let withEmpty = try Grammar(ChoiceGrammar.choice(["", "x"]))
        #expect(GrammarMatcher.matches(withEmpty, ""))
        #expect(throws: GrammarError.self) { try ChoiceGrammar.choice([]) }
    }

    // MARK: - Cross-check against NSRegularExpression

    /// Patterns whose meaning is the same in ICU (NSRegularExpression) and ECMAScript over the
    /// given alphabet (ICU's `\d \w \s` are Unicode-wide, so those patterns get ASCII alphabets).
    static let crossCheck: [(pattern: String, alphabet: String, samples: [String])] = [
        (#"\d{4}-\d{2}-\d{2}"#, "0129-a", ["2024-01-31", "2024-1-31"]),
        ("[A-Z][a-z]+( [A-Z][a-z]+)*", "AZaz b", ["Ann Bo", "Ann bo", "Ab Cd Ef"]),
        ("a{2,3}", "ab", ["aa", "aaa", "aaaa"]),
        ("ab|cd", "abcd", ["ab", "cd", "abcd"]),
        ("(ab|cd)+e?", "abcde", ["abcde", "cdab"]),
        ("[^abc]*", "abcdé\n", ["dé\n", "dad"]),
        ("x.y", "xy\n\r.a😀", ["x😀y", "x\ny"]),
        (#"\w+@\w+\.com"#, "ab_1@.cmo", ["a_1@b.com", "a@.com"]),
        (#"\(?\d{3}\)?[-. ]?\d{3}[-.]?\d{4}"#, "01()-. ", ["(010) 101-1010", "0101011010"]),
        ("(?:a|b)*c", "abc", ["ababc", "abcc"]),
        ("a*?b+?", "ab", ["aabb", "ba"]),
        (#"[a-c\d_]+"#, "abcd0_-", ["a0_c", "ad"]),
        (#"[\d-]+"#, "0-a", ["0-0", "a"]),
        ("colou?r", "colur", ["color", "colour", "colouur"]),
        ("(a|b)(c|d){1,2}", "abcd", ["acd", "ab"]),
        (#"\u00e9+|\x41"#, "éAa", ["ééé", "A", "éA"]),
        (#"[\u4e00-\u9fff]+"#, "中文a", ["中文", "中a"]),
        (#"(?<y>\d\d)-(?<m>\d)"#, "01-a", ["10-1", "1-1"]),
        ("a{0,2}b{2,}", "ab", ["bb", "aabbb", "aaabb"]),
        (#"\.\*\+\?\$"#, ".*+?$a", [".*+?$"]),
        (#"[^\s]+"#, "a \t\n", ["aa", "a a"]),
        (#"\S+\s\S+"#, "a b\t", ["a b", "a\tb", "ab"]),
        (#"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?"#, "1.e+-E0", ["-1.0e+10", "1.", "+.1"]),
        ("(a?)*b", "ab", ["aab", "b"]),
        ("((a|)b?)+c", "abc", ["abbac", "c"]),
        ("^abc$", "abc", ["abc"]),
        ("^a|b$", "ab", ["a", "b", "ab"]),
        (#"[\]\[]+"#, "[]a", ["[]", "]a"]),
        (#"\t\n\r\f"#, "\t\n\r\u{0C}a", ["\t\n\r\u{0C}"]),
        ("(x|y|z){3}", "xyza", ["xyz", "xy"]),
        (#"[^\d\s]+"#, "a1 b", ["ab", "a1"]),
        (".+", "a\n\r😀é", ["a😀", "\n"]),
        (#"[a-z]+\/[a-z]+"#, "ab/", ["a/b", "/b"]),
        (#"\x2F\u002F"#, "/a", ["//"]),
        ("[😀-😂]+", "😀😁😂😃", ["😀😂", "😃"]),
        ("a|", "ab", ["", "a"]),
        ("(ab)*?c", "abc", ["ababc", "abac"]),
    ]

    @Test func agreesWithNSRegularExpression() throws {
        var rng = SplitMix(seed: 0x5EED)
        var compared = 0
        var matched = 0
        for (pattern, alphabet, samples) in Self.crossCheck {
            let g = try regex(pattern)
            let reference = try NSRegularExpression(pattern: #"\A(?:"# + pattern + #")\z"#)
            let letters = Array(alphabet)
            var candidates = samples + [""]
            for _ in 0..<300 {
                let length = Int(rng.next() % 9)
                candidates.append(String((0..<length).map { _ in letters[Int(rng.next() % UInt64(letters.count))] }))
            }
            for s in candidates {
                let expected = reference.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
                #expect(GrammarMatcher.matches(g, s) == expected,
                        "/\(pattern)/ on \(s.debugDescription): NSRegularExpression says \(expected)")
                compared += 1
                if expected { matched += 1 }
            }
        }
        #expect(compared > 10_000)
        #expect(matched > 500)  // both answers are exercised (about 1,000 of 11,000 match)
    }
}

/// A small deterministic generator for the cross-check's candidate strings.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
