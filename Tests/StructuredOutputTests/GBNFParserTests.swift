import Testing
@testable import StructuredOutput

@Suite struct GBNFParserTests {
    func grammar(_ text: String) throws -> Grammar {
        try Grammar(GBNFParser.parse(text))
    }

    func check(_ text: String, accepts: [String], rejects: [String],
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let g = try grammar(text)
        for s in accepts {
            #expect(GrammarMatcher.matches(g, s), "should accept \(s.debugDescription)", sourceLocation: sourceLocation)
        }
        for s in rejects {
            #expect(!GrammarMatcher.matches(g, s), "should reject \(s.debugDescription)", sourceLocation: sourceLocation)
        }
    }

    /// The syntax error of `text` as (message, offset), or nil when it parses.
    func syntaxError(_ text: String) -> (message: String, offset: Int)? {
        do {
            _ = try GBNFParser.parse(text)
            return nil
        } catch {
            if case .syntax(let message, let offset) = error { return (message, offset) }
            return ("not a syntax error: \(error)", -1)
        }
    }

    // MARK: - Constructs

    @Test func parsesIntoTheExpectedDefinition() throws {
        let def = try GBNFParser.parse("root ::= \"a\" 'b' | x # a comment\nx ::= [0-9]")
        let expected = GrammarDefinition(rules: [
            (name: "root", expr: .choice([.text("ab"), .reference("x")])),
            (name: "x", expr: .characters([0x30...0x39], negated: false)),
        ])
        #expect(def == expected)
        #expect(def.root == "root")
    }

    @Test func literalsAndAlternatives() throws {
        try check(#"root ::= "yes" | 'no' | "maybe" " " 'so'"#,
                  accepts: ["yes", "no", "maybe so"], rejects: ["", "ye", "yesno", "maybe", "maybeso", "No"])
        try check(#"root ::= "say \"hi\"" | 'it''s' | "'" '"'"#,
                  accepts: ["say \"hi\"", "its", "'\""], rejects: ["say hi", "it's"])
        try check(#"root ::= "é中🙂""#, accepts: ["é中🙂"], rejects: ["é中", "e中🙂"])
        try check("root ::= \"\" | \"a\"", accepts: ["", "a"], rejects: ["aa"])
    }

    @Test func literalEscapes() throws {
        try check(#"root ::= "a\nb\rc\td\\e\"f\[g\]h\x41\u00e9\U0001F642\'""#,
                  accepts: ["a\nb\rc\td\\e\"f[g]hAé🙂'"], rejects: ["anb", "a\nb\rc\td\\e\"f[g]hAé🙂"])
        try check(#"root ::= '\x00' | "\xff""#, accepts: ["\u{0}", "\u{FF}"], rejects: ["\u{FE}"])
    }

    @Test func characterClasses() throws {
        try check("root ::= [a-zA-Z_] [a-zA-Z0-9_-]*",
                  accepts: ["a", "Z9", "_x-y_1"], rejects: ["", "9a", "-a", "a b", "aé"])
        try check(#"root ::= [^"\\\n]+"#, accepts: ["abc", "é 🙂 ' x"], rejects: ["", "a\"b", "a\\b", "a\nb"])
        try check(#"root ::= [\x30-\x39\u00e0-\u00ff\[\]\-]+"#,
                  accepts: ["0", "9à", "ÿ", "[", "]", "-", "[1-2]"], rejects: ["a", "ß"])
        try check("root ::= [-a] [a-]", accepts: ["--", "aa", "-a"], rejects: ["b-"])
        try check("root ::= [一-龥]{2}", accepts: ["中文"], rejects: ["中", "中a"])
        try check("root ::= [^a]", accepts: ["b", "\n", "🙂"], rejects: ["a", "", "bb"])
    }

    @Test func anyCharacterIncludesNewlines() throws {
        try check("root ::= \"<\" . \">\"", accepts: ["<a>", "<\n>", "<🙂>", "<>>"], rejects: ["<>", "<ab>"])
    }

    @Test func groupsAndRepetitions() throws {
        try check(#"root ::= ("a" | "b")* "c"+ "d"?"#,
                  accepts: ["c", "abbac", "cccd", "bcd"], rejects: ["", "ab", "d", "cdd", "acbc"])
        try check(#"root ::= "x"{3}"#, accepts: ["xxx"], rejects: ["xx", "xxxx"])
        try check(#"root ::= "x"{2,}"#, accepts: ["xx", "xxxxxxx"], rejects: ["x", ""])
        try check(#"root ::= "x"{1,3} ( "y" ){ 0 , 1 }"#, accepts: ["x", "xxx", "xxy"], rejects: ["xxxx", "y", "xyy"])
        try check(#"root ::= "x"{0}"#, accepts: [""], rejects: ["x"])
        try check(#"root ::= ( ( "a" "b" ) | "c" )+"#, accepts: ["ab", "cabc"], rejects: ["a", "abb"])
    }

    @Test func rulesSpanLinesAndCommentsAreSkipped() throws {
        let text = """
            # leading comment
            root ::=
              greeting   # trailing comment
              ( ", " name )*
            greeting ::= "hello"
                       | "hi"
            name
              ::= [A-Z] [a-z]*
            """
        try check(text, accepts: ["hello", "hi, Ann", "hello, Bo, C"], rejects: ["hello,", "hey", "hi, ann"])
        let def = try GBNFParser.parse(text)
        #expect(def.rules.map(\.name) == ["root", "greeting", "name"])
    }

    @Test func ruleNamesAndReferences() throws {
        try check("root ::= my-rule_2 x\nmy-rule_2 ::= \"a\"\nx ::= root2\nroot2 ::= \"b\"",
                  accepts: ["ab"], rejects: ["a", "ba"])
        // Right recursion is fine; the compiler refuses left recursion.
        try check("root ::= \"(\" root \")\" | \"\"", accepts: ["", "()", "((()))"], rejects: ["(", "())"])
        #expect(throws: GrammarError.self) { try grammar("root ::= root \"a\" | \"a\"") }
    }

    // MARK: - llama.cpp sample grammars

    @Test func arithmetic() throws {
        let text = #"""
            root  ::= (expr "=" ws term "\n")+
            expr  ::= term ([-+*/] term)*
            term  ::= ident | num | "(" ws expr ")" ws
            ident ::= [a-z] [a-z0-9_]* ws
            num   ::= [0-9]+ ws
            ws    ::= [ \t\n]*
            """#
        try check(text,
                  accepts: ["1+2=3\n", "(a +b)*c=d\n", "x=1\ny=22\n", "( x_1 )/2= 7\n", "foo*bar-12=0\n"],
                  rejects: ["1+2=3", "1++2=3\n", "=3\n", "A=1\n", "(a=b\n", "1+2\n"])
    }

    static let json = #"""
        root   ::= object
        value  ::= object | array | string | number | ("true" | "false" | "null") ws

        object ::=
          "{" ws (
                    string ":" ws value
            ("," ws string ":" ws value)*
          )? "}" ws

        array  ::=
          "[" ws (
                    value
            ("," ws value)*
          )? "]" ws

        string ::=
          "\"" (
            [^"\\\x7F\x00-\x1F] |
            "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
          )* "\"" ws

        number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

        # Optional space: by convention, applied in this grammar after literal chars when allowed
        ws ::= | " " | "\n" [ \t]{0,20}
        """#

    @Test func jsonGrammar() throws {
        try check(Self.json,
                  accepts: [
                      "{}", #"{"a": 1}"#, #"{"a": 1, "b": [true, null, "x\n\u00e9"]}"#,
                      #"{"k":{"n":-12.5e3, "m": [], "é": "中文"}}"#, "{\n  \"a\": [1, 2]\n}",
                  ],
                  rejects: [
                      "", "[1, 2]", #"{"a" 1}"#, #"{"a": tru}"#, #"{"a": "\q"}"#, #"{"a": 01}"#,
                      "{\"a\": \"line\nbreak\"}", #"{"a": 1,}"#, #"{a: 1}"#, #"{"a": "\u12"}"#,
                  ])
    }

    @Test func listGrammar() throws {
        let text = #"""
            root ::= item+

            # Excludes various line break characters
            item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]+ "\n"
            """#
        try check(text, accepts: ["- a\n", "- milk\n- eggs and ham\n", "- 🙂\n"],
                  rejects: ["", "- a", "-a\n", "- \n", "- a\u{2028}b\n", "- a\n\n"])
    }

    // MARK: - Errors

    @Test func syntaxErrorsNameTheOffset() {
        let cases: [(String, Int, String)] = [
            (#"root ::= "abc"#, 9, "unterminated string"),
            (#"root "a""#, 5, "expected '::='"),
            (#"root ::= ("a""#, 13, "expected ')'"),
            ("root ::= [a-", 9, "unterminated character class"),
            (#"root ::= "a"{2,1}"#, 12, "maximum below its minimum"),
            (#"root ::= "a"{x}"#, 13, "expected a number"),
            (#"root ::= "a"{2"#, 14, "expected '}'"),
            (#"root ::= "\q""#, 10, "unknown escape"),
            (#"root ::= "\xZZ""#, 12, "hex digits"),
            ("root ::= *", 9, "must follow an item"),
            (#"::= "a""#, 0, "expected a rule name"),
            (#"root ::= "a")"#, 12, "unexpected ')'"),
            ("root ::= [z-a]", 10, "out of order"),
            ("root ::= <think>", 9, "token references"),
            ("root ::= \"é\" @", 14, "expected a string, a character class"),
            ("", 0, "no rules"),
            ("  # only a comment\n", 19, "no rules"),
            ("root ::= " + String(repeating: "(", count: 300) + "\"a\"" + String(repeating: ")", count: 300), 265, "nest"),
        ]
        for (text, offset, message) in cases {
            let error = syntaxError(text)
            #expect(error?.offset == offset, "\(text.debugDescription): \(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(text.debugDescription): \(String(describing: error))")
        }
    }

    @Test func ruleErrors() {
        #expect(throws: GrammarError.duplicateRule("a")) {
            try GBNFParser.parse("root ::= a\na ::= \"x\"\na ::= \"y\"")
        }
        #expect(throws: GrammarError.undefinedRule("b")) { try grammar("root ::= \"a\" b") }
        #expect(throws: GrammarError.undefinedRule("root")) { try grammar("start ::= \"a\"") }
    }
}
