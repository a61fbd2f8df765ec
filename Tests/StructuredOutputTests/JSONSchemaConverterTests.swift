import Foundation
import Testing
@testable import StructuredOutput

@Suite struct JSONSchemaConverterTests {
    func grammar(_ schema: String, _ options: JSONSchemaOptions = .init()) throws -> Grammar {
        try Grammar(JSONSchemaConverter.definition(for: JSONValue(parsing: schema), options: options))
    }

    func check(_ schema: String, accepts: [String], rejects: [String], _ options: JSONSchemaOptions = .init(),
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let g = try grammar(schema, options)
        for text in accepts { #expect(GrammarMatcher.matches(g, text), "\(schema) should accept \(text)", sourceLocation: sourceLocation) }
        for text in rejects { #expect(!GrammarMatcher.matches(g, text), "\(schema) should reject \(text)", sourceLocation: sourceLocation) }
    }

    func unsupported(_ schema: String) -> String? {
        do {
            _ = try JSONSchemaConverter.definition(for: JSONValue(parsing: schema))
            return nil
        } catch let error as GrammarError {
            if case .unsupportedSchema(let keyword, _) = error { return keyword }
            return "\(error)"
        } catch {
            return "\(error)"
        }
    }

    // MARK: Types

    @Test func primitiveTypes() throws {
        try check(##"{"type":"string"}"##, accepts: [##""""##, ##""héllo wörld""##, ##""a\"b\\c\/\n\u00e9\ud83d\ude00""##],
                  rejects: ["\"a\nb\"", ##""\x""##, ##""\ud800""##, ##""\udc00x""##, "abc", ##""a"##, "1"])
        try check(##"{"type":"integer"}"##, accepts: ["0", "7", "-12", "1234567890123"], rejects: ["-0", "01", "1.0", "1e2", "+1", "", "\"1\""])
        try check(##"{"type":"number"}"##, accepts: ["0", "-0", "1.5", "-0.25e-7", "3E+10", "10"], rejects: ["01", "1.", ".5", "1e", "--1", "NaN", "1e100"])
        try check(##"{"type":"boolean"}"##, accepts: ["true", "false"], rejects: ["True", "1", "null"])
        try check(##"{"type":"null"}"##, accepts: ["null"], rejects: ["nul", "\"null\"", ""])
        try check(##"{"type":["string","null"]}"##, accepts: ["null", ##""x""##], rejects: ["1"])
        try check(##"{"type":["integer","number"]}"##, accepts: ["1", "1.5"], rejects: ["\"1\""])
        try check(##"{"type":"string","nullable":true}"##, accepts: ["null", ##""x""##], rejects: ["1"])
        try check(##"{"nullable":true}"##, accepts: ["null", "1", ##"{"a":[]}"##], rejects: [""])
    }

    @Test func anyValue() throws {
        for schema in ["{}", "true", ##"{"description":"anything","title":"t","$comment":"c","x-vendor":1}"##] {
            try check(schema, accepts: ["1", "null", ##"{"a":[1,{"b":"c"}]}"##, "[]", ##""s""##, "{ \"a\" : 1 }"], rejects: ["", "{", "[1,]", "{'a':1}"])
        }
    }

    @Test func anyJSONIsAnyObject() throws {
        let g = try Grammar(JSONSchemaConverter.anyJSON())
        for s in ["{}", ##"{"a":1,"b":[true,{"c":null}],"d":"é"}"##, "{\n  \"a\": 1\n}"] { #expect(GrammarMatcher.matches(g, s), "\(s)") }
        for s in ["[]", "1", "\"a\"", "{\"a\"}", "{\"a\":1,}", " {}"] { #expect(!GrammarMatcher.matches(g, s), "\(s)") }
    }

    // MARK: Whitespace

    @Test func whitespaceIsBounded() throws {
        let schema = ##"{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}},"required":["a"]}"##
        try check(schema, accepts: [##"{"a":[1,2]}"##, ##"{ "a" : [ 1 , 2 ] }"##, "{\n  \"a\": [\n    1,\n    2\n  ]\n}", "{\n\t\"a\":[]}"],
                  rejects: [##"{  "a":[]}"##, "{\n\n\"a\":[]}", "{\n" + String(repeating: " ", count: 21) + "\"a\":[]}", " {\"a\":[]}", "{\"a\":[]} ", "{\r\n\"a\":[]}"])
        try check(schema, accepts: [##"{"a":[1,2]}"##], rejects: [##"{ "a":[1,2]}"##, "{\"a\":[1, 2]}"], JSONSchemaOptions(whitespace: .compact))
        try check(schema, accepts: ["{\n    \"a\":[]}"], rejects: ["{\n     \"a\":[]}"], JSONSchemaOptions(whitespace: .bounded(maxIndent: 4)))
    }

    // MARK: Objects

    @Test func everySubsetOfOptionalPropertiesInOrder() throws {
        let names = ["a", "b", "c", "d"]
        for requiredMask in 0..<16 {
            let required = names.enumerated().filter { requiredMask & (1 << $0.offset) != 0 }.map(\.element)
            let schema = ##"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"},"d":{"type":"integer"}},"required":["##
                + required.map { "\"\($0)\"" }.joined(separator: ",") + "]}"
            let g = try grammar(schema)
            for present in 0..<16 {
                let keys = names.enumerated().filter { present & (1 << $0.offset) != 0 }.map(\.element)
                let text = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
                let valid = Set(required).isSubset(of: keys)
                #expect(GrammarMatcher.matches(g, text) == valid, "\(required) \(text)")
                if keys.count >= 2 {
                    let reversed = "{" + keys.reversed().map { "\"\($0)\":1" }.joined(separator: ",") + "}"
                    #expect(!GrammarMatcher.matches(g, reversed), "order \(reversed)")
                }
            }
            #expect(!GrammarMatcher.matches(g, ##"{,"a":1}"##))
            #expect(!GrammarMatcher.matches(g, ##"{"a":1,}"##))
            #expect(!GrammarMatcher.matches(g, ##"{"a":1,"a":1,"b":1,"c":1,"d":1}"##))
        }
    }

    @Test func equalSubschemasInAnotherOrderKeepTheirOwnOrder() throws {
        let schema = ##"{"type":"array","prefixItems":[{"type":"object","properties":{"a":{"type":"null"},"b":{"type":"null"}},"required":["a","b"]},{"type":"object","properties":{"b":{"type":"null"},"a":{"type":"null"}},"required":["a","b"]}],"items":false,"minItems":2}"##
        try check(schema, accepts: [##"[{"a":null,"b":null},{"b":null,"a":null}]"##], rejects: [##"[{"a":null,"b":null},{"a":null,"b":null}]"##])
    }

    @Test func additionalProperties() throws {
        let props = ##""properties":{"a":{"type":"string"}},"required":["a"]"##
        // Strict (default): absent means false.
        try check("{\"type\":\"object\",\(props)}", accepts: [##"{"a":"x"}"##], rejects: [##"{"a":"x","b":1}"##])
        try check(##"{"type":"object"}"##, accepts: ["{}", "{ }"], rejects: [##"{"b":1}"##])
        // Not strict: absent means any.
        try check("{\"type\":\"object\",\(props)}", accepts: [##"{"a":"x"}"##, ##"{"a":"x","b":[1],"c":{}}"##], rejects: [##"{"b":1}"##, ##"{"a":"x","a":"y"}"##],
                  JSONSchemaOptions(strict: false))
        try check("{\"type\":\"object\",\(props),\"additionalProperties\":true}",
                  accepts: [##"{"a":"x","b":null}"##, ##"{"a":"x","ab":1,"":2,"b\"":3}"##], rejects: [##"{"a":"x","a":1}"##, ##"{"b":1,"a":"x"}"##])
        try check("{\"type\":\"object\",\(props),\"additionalProperties\":{\"type\":\"integer\"}}",
                  accepts: [##"{"a":"x","b":1,"c":2}"##, ##"{"a":"x"}"##], rejects: [##"{"a":"x","b":"y"}"##, ##"{"a":"x","a":2}"##])
        try check(##"{"type":"object","additionalProperties":{"type":"boolean"}}"##,
                  accepts: ["{}", ##"{"x":true,"y":false}"##], rejects: [##"{"x":1}"##])
        // A required name without a declared schema takes additionalProperties' schema.
        try check(##"{"type":"object","required":["id"],"additionalProperties":{"type":"integer"}}"##,
                  accepts: [##"{"id":1}"##, ##"{"id":1,"x":2}"##], rejects: ["{}", ##"{"id":"a"}"##])
        #expect(unsupported(##"{"type":"object","properties":{},"required":["a"]}"##) == "required")
        // A `false` property may not appear.
        try check(##"{"type":"object","properties":{"a":false,"b":{"type":"null"}}}"##, accepts: ["{}", ##"{"b":null}"##], rejects: [##"{"a":1}"##])
    }

    @Test func nestedObjectsAndTypeInference() throws {
        try check(##"{"properties":{"p":{"properties":{"q":{"enum":[1,2]}},"required":["q"]}},"required":["p"]}"##,
                  accepts: [##"{"p":{"q":2}}"##], rejects: [##"{"p":{"q":3}}"##, ##"{"p":{}}"##, "1"])
        try check(##"{"minLength":2}"##, accepts: [##""ab""##], rejects: [##""a""##, "12"])
        try check(##"{"minimum":2}"##, accepts: ["2", "2.5", "100"], rejects: ["1", "\"3\""])
        try check(##"{"items":{"type":"integer"}}"##, accepts: ["[1,2]"], rejects: ["[\"a\"]"])
    }

    // MARK: Arrays

    @Test func itemCounts() throws {
        for (minItems, maxItems) in [(0, nil), (0, 0), (0, 1), (1, nil), (2, 4), (3, 3), (0, 5)] as [(Int, Int?)] {
            var schema = ##"{"type":"array","items":{"type":"integer"},"minItems":\##(minItems)"##
            if let maxItems { schema += ##","maxItems":\##(maxItems)"## }
            let g = try grammar(schema + "}")
            for n in 0...7 {
                let text = "[" + (0..<n).map(String.init).joined(separator: ",") + "]"
                let valid = n >= minItems && maxItems.map { n <= $0 } ?? true
                #expect(GrammarMatcher.matches(g, text) == valid, "\(schema) \(text)")
            }
        }
    }

    @Test func prefixItems() throws {
        let tuple = ##"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}"##
        try check(tuple, accepts: ["[]", ##"["a"]"##, ##"["a",1]"##], rejects: [##"[1]"##, ##"["a","b"]"##, ##"["a",1,2]"##])
        let tupleMin = ##"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"minItems":2,"items":{"type":"boolean"}}"##
        try check(tupleMin, accepts: [##"["a",1]"##, ##"["a",1,true,false]"##], rejects: [##"["a"]"##, ##"["a",1,2]"##])
        let draft7 = ##"{"type":"array","items":[{"type":"string"},{"type":"null"}],"additionalItems":false,"minItems":1}"##
        try check(draft7, accepts: [##"["a"]"##, ##"["a",null]"##], rejects: ["[]", ##"["a",null,null]"##])
        let capped = ##"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"},{"type":"null"}],"maxItems":2}"##
        try check(capped, accepts: [##"["a",1]"##], rejects: [##"["a",1,null]"##])
        #expect(unsupported(##"{"type":"array","prefixItems":[{}],"items":false,"minItems":2}"##) == "minItems")
    }

    // MARK: enum, const, combinators

    @Test func enumAndConst() throws {
        try check(##"{"enum":["red","gr\"een",1,null,{"a":[1,2]},[true]]}"##,
                  accepts: [##""red""##, ##""gr\"een""##, "1", "null", ##"{"a":[1,2]}"##, "[true]"],
                  rejects: [##""blue""##, "2", ##"{"a":[1]}"##, ##"{ "a":[1,2]}"##, "true"])
        try check(##"{"const":{"k":"v"}}"##, accepts: [##"{"k":"v"}"##], rejects: ["{}", ##""v""##])
        try check(##"{"type":"string","enum":["a",1,"b"]}"##, accepts: [##""a""##, ##""b""##], rejects: ["1"])
        try check(##"{"type":"string","enum":["a","abc","abcdef"],"maxLength":3}"##, accepts: [##""a""##, ##""abc""##], rejects: [##""abcdef""##])
        try check(##"{"type":"integer","enum":[1,5,10],"minimum":2}"##, accepts: ["5", "10"], rejects: ["1"])
        #expect(unsupported(##"{"type":"string","enum":[1,2]}"##) == "enum")
    }

    @Test func anyOfOneOfAllOf() throws {
        try check(##"{"anyOf":[{"type":"integer","minimum":10},{"type":"string","maxLength":1}]}"##,
                  accepts: ["10", "99", ##""a""##], rejects: ["9", ##""ab""##])
        try check(##"{"oneOf":[{"type":"boolean"},{"type":"null"}],"description":"d"}"##, accepts: ["true", "null"], rejects: ["1"])
        try check(##"{"allOf":[{"type":"integer","maximum":3}],"title":"t"}"##, accepts: ["3"], rejects: ["4"])
        try check(##"{"anyOf":[{"type":"integer"}],"nullable":true}"##, accepts: ["1", "null"], rejects: ["\"\""])
        #expect(unsupported(##"{"allOf":[{"type":"integer"},{"minimum":1}]}"##) == "allOf")
        #expect(unsupported(##"{"type":"object","anyOf":[{"properties":{"a":{}}}]}"##) == "anyOf")
        // Branches that only add `required` merge with their siblings.
        try check(##"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"oneOf":[{"required":["a"]},{"required":["b"]}]}"##,
                  accepts: [##"{"a":1}"##, ##"{"b":1}"##], rejects: ["{}", ##"{"a":1,"b":2}"##])
        try check(##"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"anyOf":[{"required":["a"]},{"required":["b"]}]}"##,
                  accepts: [##"{"a":1}"##, ##"{"b":1}"##, ##"{"a":1,"b":2}"##], rejects: ["{}"])
        #expect(unsupported(##"{"$ref":"#/$defs/a","minimum":1,"$defs":{"a":{}}}"##) == "$ref")
    }

    @Test func refsAndRecursion() throws {
        let tree = ##"{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v","kids"]}},"$ref":"#/$defs/node"}"##
        try check(tree, accepts: [##"{"v":1,"kids":[]}"##, ##"{"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]},{"v":4,"kids":[]}]}"##],
                  rejects: [##"{"v":1}"##, ##"{"v":1,"kids":[{"v":2}]}"##])
        let rootRef = ##"{"type":"object","properties":{"name":{"type":"string"},"child":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["name","child"]}"##
        try check(rootRef, accepts: [##"{"name":"a","child":null}"##, ##"{"name":"a","child":{"name":"b","child":null}}"##], rejects: [##"{"name":"a","child":{}}"##])
        let definitions = ##"{"definitions":{"id":{"type":"integer","minimum":1}},"type":"array","items":{"$ref":"#/definitions/id"}}"##
        try check(definitions, accepts: ["[1,2]"], rejects: ["[0]"])
        let pointer = ##"{"type":"object","properties":{"a":{"type":"integer","maximum":5},"b":{"$ref":"#/properties/a"}},"required":["a","b"]}"##
        try check(pointer, accepts: [##"{"a":1,"b":5}"##], rejects: [##"{"a":1,"b":6}"##])
        let escaped = ##"{"$defs":{"a/b":{"type":"null"},"c~d":{"type":"boolean"}},"type":"array","prefixItems":[{"$ref":"#/$defs/a~1b"},{"$ref":"#/$defs/c~0d"}],"items":false}"##
        try check(escaped, accepts: ["[null,true]"], rejects: ["[true,null]"])
        #expect(throws: GrammarError.invalidSchema("$ref '#/$defs/missing' points nowhere")) {
            try JSONSchemaConverter.definition(for: JSONValue(parsing: ##"{"$ref":"#/$defs/missing"}"##))
        }
        #expect(unsupported(##"{"$ref":"other.json#/a"}"##) == "$ref")
    }

    // MARK: Strings

    @Test func lengthsCountScalars() throws {
        try check(##"{"type":"string","minLength":2,"maxLength":3}"##,
                  accepts: [##""ab""##, ##""éé""##, ##""😀😀😀""##, ##""a\nb""##, ##""\ud83d\ude00x""##, ##""\u0041\u0042""##],
                  rejects: [##""a""##, ##""abcd""##, ##""😀""##, ##""\n""##, ##""abc\"""##])
        #expect(unsupported(##"{"type":"string","minLength":3,"maxLength":2}"##) == "minLength")
    }

    @Test func patterns() throws {
        try check(##"{"type":"string","pattern":"^[a-z]+-\\d{2}$"}"##, accepts: [##""ab-12""##], rejects: [##""ab-1""##, ##""AB-12""##, ##""xab-12y""##])
        // Characters that JSON escapes are matched in their escaped form.
        try check(##"{"type":"string","pattern":"^a\"b\\\\c\\td$"}"##, accepts: [##""a\"b\\c\td""##], rejects: ["\"a\"b\\c\td\"", "\"a\\\"b\\\\c\td\""])
        try check(##"{"type":"string","pattern":"^[^a]{2}$"}"##, accepts: [##""\"\n""##, ##""\u0001x""##, ##""éb""##], rejects: [##""ab""##, "\"\n\n\""])
        #expect(unsupported(##"{"type":"string","pattern":"(?=a)"}"##) == "pattern")
        #expect(unsupported(##"{"type":"string","pattern":"a","maxLength":3}"##) == "maxLength")
    }

    @Test func formats() throws {
        func string(_ s: String) -> String { "\"\(s)\"" }
        try check(##"{"type":"string","format":"date"}"##,
                  accepts: ["2024-01-31", "0001-12-30", "1999-02-28", "2023-04-30"].map(string),
                  rejects: ["2024-13-01", "2024-02-30", "2024-04-31", "0000-01-01", "2024-1-01", "2024-01-00"].map(string))
        try check(##"{"type":"string","format":"time"}"##,
                  accepts: ["23:59:59Z", "00:00:00.123456+05:30", "12:00:00-08:00"].map(string),
                  rejects: ["24:00:00Z", "12:60:00Z", "12:00:00", "12:00Z"].map(string))
        try check(##"{"type":"string","format":"date-time"}"##, accepts: [string("2024-06-01T12:30:00Z"), string("2024-06-01T12:30:00.5+01:00")],
                  rejects: [string("2024-06-01 12:30:00Z"), string("2024-06-01T12:30:00")])
        try check(##"{"type":"string","format":"uuid"}"##, accepts: [string("123e4567-e89b-12d3-a456-426614174000"), string("ABCDEF01-2345-6789-abcd-ef0123456789")],
                  rejects: [string("123e4567e89b12d3a456426614174000"), string("123e4567-e89b-12d3-a456-42661417400g")])
        try check(##"{"type":"string","format":"email"}"##, accepts: [string("a.b+c@example.co.uk"), string("x@y.z")],
                  rejects: [string("a@b"), string("@b.c"), string("a b@c.d"), string("a..b@c.d")])
        try check(##"{"type":"string","format":"ipv4"}"##, accepts: ["0.0.0.0", "192.168.1.255", "10.0.0.1"].map(string),
                  rejects: ["256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.1"].map(string))
        try check(##"{"type":"string","format":"duration"}"##, accepts: ["P1Y2M3DT4H5M6S", "PT30M", "P2W", "P1D", "PT1H", "P1MT2M"].map(string),
                  rejects: ["P", "PT", "P1H", "1Y", "P1W2D", "PT1D"].map(string))
        try check(##"{"type":"string","format":"uri"}"##, accepts: ["https://example.com/a/b?x=1&y=%20#frag", "ftp://host", "http://a-b.c:"].map(string),
                  rejects: ["example.com", "https://", "http://a b"].map(string))
        #expect(unsupported(##"{"type":"string","format":"hostname"}"##) == "format")
        #expect(unsupported(##"{"type":"string","format":"email","maxLength":100}"##) == "maxLength")
        try check(##"{"type":"string","format":"uuid","maxLength":36,"minLength":36}"##, accepts: [string("123e4567-e89b-12d3-a456-426614174000")], rejects: [])
        try check(##"{"type":"integer","format":"int64"}"##, accepts: ["5"], rejects: ["\"5\""])
    }

    // MARK: Numbers

    @Test func integerRangesExhaustive() throws {
        let bounds: [(String, (Int) -> Bool)] = [
            (##""minimum":0"##, { $0 >= 0 }),
            (##""minimum":-7"##, { $0 >= -7 }),
            (##""maximum":-1"##, { $0 <= -1 }),
            (##""maximum":99"##, { $0 <= 99 }),
            (##""exclusiveMinimum":0"##, { $0 > 0 }),
            (##""exclusiveMaximum":-10"##, { $0 < -10 }),
            (##""minimum":-100,"maximum":100"##, { (-100...100).contains($0) }),
            (##""minimum":-123,"maximum":-45"##, { (-123 ... -45).contains($0) }),
            (##""minimum":5,"maximum":5"##, { $0 == 5 }),
            (##""minimum":0,"maximum":0"##, { $0 == 0 }),
            (##""minimum":9,"maximum":101"##, { (9...101).contains($0) }),
            (##""minimum":-1,"exclusiveMaximum":1"##, { (-1...0).contains($0) }),
            (##""exclusiveMinimum":-15,"exclusiveMaximum":15"##, { (-14...14).contains($0) }),
            (##""minimum":1.5,"maximum":20.5"##, { (2...20).contains($0) }),
            (##""exclusiveMinimum":2.5,"exclusiveMaximum":7.0"##, { (3...6).contains($0) }),
            (##""minimum":3,"exclusiveMinimum":3"##, { $0 > 3 }),
            (##""minimum":3,"exclusiveMinimum":true"##, { $0 > 3 }),
            (##""maximum":3,"exclusiveMaximum":false"##, { $0 <= 3 }),
            (##""minimum":-150,"maximum":149"##, { (-150...149).contains($0) }),
        ]
        for (keywords, inRange) in bounds {
            let g = try grammar("{\"type\":\"integer\",\(keywords)}")
            for n in -200...200 {
                #expect(GrammarMatcher.matches(g, String(n)) == inRange(n), "\(keywords) \(n)")
            }
            for text in ["-0", "007", "01", "1.0", "-", "", "1e1", "+5"] {
                #expect(!GrammarMatcher.matches(g, text), "\(keywords) \(text)")
            }
            #expect(GrammarMatcher.matches(g, "123456789") == inRange(123_456_789))
            #expect(GrammarMatcher.matches(g, "-123456789") == inRange(-123_456_789))
        }
        #expect(unsupported(##"{"type":"integer","minimum":5,"maximum":4}"##) == "minimum")
        #expect(unsupported(##"{"type":"integer","minimum":1e30}"##) == "minimum")
    }

    @Test func largeIntegerRange() throws {
        let g = try grammar(##"{"type":"integer","minimum":-9007199254740991,"maximum":4294967295}"##)
        for (text, ok) in [("4294967295", true), ("4294967296", false), ("-9007199254740991", true), ("-9007199254740992", false),
                           ("0", true), ("99999999999", false), ("1000000000", true)] {
            #expect(GrammarMatcher.matches(g, text) == ok, "\(text)")
        }
    }

    @Test func numberRanges() throws {
        let texts = ["0", "0.0", "-0", "-0.0", "0.5", "-0.5", "1", "1.00", "1.01", "-1", "-1.0", "-1.5", "89.999", "90", "90.0", "90.000",
                     "90.001", "-90", "-90.0", "-90.1", "-89.9", "100", "180", "180.5", "5", "4.99", "5.0001", "0.0001", "-0.0001", "12"]
        let cases: [(String, (Double) -> Bool)] = [
            (##""minimum":0"##, { $0 >= 0 }),
            (##""exclusiveMinimum":0"##, { $0 > 0 }),
            (##""minimum":-90,"maximum":90"##, { (-90...90).contains($0) }),
            (##""exclusiveMinimum":-90,"exclusiveMaximum":90"##, { $0 > -90 && $0 < 90 }),
            (##""minimum":1,"maximum":5"##, { (1...5).contains($0) }),
            (##""maximum":0"##, { $0 <= 0 }),
            (##""exclusiveMaximum":0"##, { $0 < 0 }),
            (##""minimum":0,"maximum":1"##, { (0...1).contains($0) }),
            (##""exclusiveMinimum":1,"maximum":1"##, { _ in false }),
        ]
        for (keywords, valid) in cases {
            let schema = "{\"type\":\"number\",\(keywords)}"
            guard let g = try? grammar(schema) else {
                #expect(keywords.contains("exclusiveMinimum\":1,\"maximum\":1"), "\(schema) should compile")
                continue
            }
            for text in texts {
                let value = Double(text)!
                // Negative zero is never written; otherwise exactly the in-range texts.
                let expected = valid(value) && !text.hasPrefix("-0") || (text.hasPrefix("-0") && value != 0 && valid(value))
                #expect(GrammarMatcher.matches(g, text) == expected, "\(keywords) \(text)")
            }
            #expect(!GrammarMatcher.matches(g, "1e0"), "exponent \(keywords)")
        }
        #expect(unsupported(##"{"type":"number","exclusiveMinimum":1,"maximum":1}"##) == "exclusiveMinimum")
        #expect(unsupported(##"{"type":"number","minimum":0.5}"##) == "minimum")
    }

    // MARK: Errors

    @Test func unsupportedKeywordsAreNamed() {
        let cases: [(String, String)] = [
            (##"{"not":{"type":"string"}}"##, "not"),
            (##"{"type":"object","if":{},"then":{}}"##, "if"),
            (##"{"type":"object","patternProperties":{"^a":{}}}"##, "patternProperties"),
            (##"{"type":"array","uniqueItems":true}"##, "uniqueItems"),
            (##"{"type":"integer","multipleOf":2}"##, "multipleOf"),
            (##"{"type":"array","contains":{"type":"integer"}}"##, "contains"),
            (##"{"type":"object","propertyNames":{"maxLength":3}}"##, "propertyNames"),
            (##"{"type":"object","dependentRequired":{"a":["b"]}}"##, "dependentRequired"),
            (##"{"type":"object","minProperties":1}"##, "minProperties"),
            (##"{"type":"object","maxProperties":1}"##, "maxProperties"),
            (##"{"type":"object","unevaluatedProperties":false}"##, "unevaluatedProperties"),
            (##"{"type":"string","format":"ipv6"}"##, "format"),
            (##"{"type":"string","format":"hostname"}"##, "format"),
            (##"{"type":"number","maximum":2.5}"##, "maximum"),
            (##"{"type":"object","properties":{"a":{"type":"string","contentSchema":{}}}}"##, "contentSchema"),
            (##"{"$defs":{"x":{"not":{}}},"type":"array","items":{"$ref":"#/$defs/x"}}"##, "not"),
            (##"false"##, "false"),
        ]
        for (schema, keyword) in cases { #expect(unsupported(schema) == keyword, "\(schema)") }
        // Non-constraining values are fine.
        #expect(unsupported(##"{"type":"array","uniqueItems":false,"minItems":0}"##) == nil)
        #expect(unsupported(##"{"type":"object","minProperties":0,"readOnly":true,"deprecated":false,"examples":[{}],"default":{}}"##) == nil)
    }

    @Test func invalidSchemas() {
        let cases = [##"{"type":5}"##, ##"{"type":"text"}"##, ##"{"type":"object","required":"a"}"##, ##"{"type":"string","minLength":-1}"##,
                     ##"{"type":"string","maxLength":1.5}"##, ##"{"type":"object","properties":[]}"##, ##"{"$ref":1}"##, "1", ##"{"anyOf":[]}"##,
                     ##"{"type":"integer","minimum":"1"}"##, ##"{"type":"array","items":1}"##, ##"{"enum":3}"##]
        for schema in cases {
            do {
                _ = try JSONSchemaConverter.definition(for: JSONValue(parsing: schema))
                Issue.record("\(schema) should be invalid")
            } catch let error as GrammarError {
                if case .invalidSchema = error {} else { Issue.record("\(schema): \(error)") }
            } catch {
                Issue.record("\(schema): \(error)")
            }
        }
    }

    @Test func sharedRulesKeepGrammarsSmall() throws {
        let schema = ##"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"},"d":{"type":"array","items":{"type":"string"}},"e":{"type":"string","maxLength":3},"f":{"type":"string","maxLength":3}},"required":["a","b","c","d","e","f"]}"##
        let definition = try JSONSchemaConverter.definition(for: JSONValue(parsing: schema))
        #expect(definition.rules.filter { $0.name == "json_string" }.count == 1)
        #expect(definition.rules.filter { $0.name == "json_char" }.count == 1)
        let g = try Grammar(definition)
        #expect(g.elements.count < 400, "\(g.elements.count) elements")
        #expect(GrammarMatcher.matches(g, ##"{"a":"","b":"x","c":"y","d":["z"],"e":"abc","f":""}"##))
    }
}
