import Foundation
import Testing
@testable import StructuredOutput

@Suite struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    @Test func parsesScalarsKeepingIntegersExact() throws {
        #expect(try parse("null") == .null)
        #expect(try parse(" true ") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("1.5") == .number(1.5))
        #expect(try parse("1e2") == .number(100))
        #expect(try parse("-2.5E-3") == .number(-0.0025))
        #expect(try parse("123456789012345678901234567890") == .number(1.2345678901234568e29))
        #expect(try parse("1.0") == .integer(1))  // equal by value
        if case .number = try parse("1.0") {} else { Issue.record("1.0 should stay a number") }
    }

    @Test func objectsKeepSourceOrder() throws {
        let v = try parse(#"{"b": 1, "a": [true, null], "c": {"z": "x", "y": 2}}"#)
        #expect(v.objectMembers?.map(\.key) == ["b", "a", "c"])
        #expect(v["c"]?.objectMembers?.map(\.key) == ["z", "y"])
        #expect(v.serialized() == #"{"b":1,"a":[true,null],"c":{"z":"x","y":2}}"#)
        // Equality ignores member order; duplicates keep the first position and the last value.
        #expect(try parse(#"{"a":1,"b":2}"#) == parse(#"{"b":2,"a":1}"#))
        #expect(try parse(#"{"a":1,"b":2,"a":3}"#).serialized() == #"{"a":3,"b":2}"#)
        #expect(Set([try parse(#"{"a":1,"b":2}"#), try parse(#"{"b":2.0,"a":1}"#)]).count == 1)
    }

    @Test func stringEscapes() throws {
        let v = try parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 é""#)
        #expect(v == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀 é"))
        #expect(v.serialized() == #""a\"b\\c/d\b\f\n\r\té😀 é""#)
        #expect(JSONValue.string("\u{01}\u{1F}").serialized() == #""\u0001\u001f""#)
        for s in ["\"abc", #""\x""#, #""\u12""#, #""\ud800""#, #""\ude00""#, #""\ud800\u0041""#, "\"a\nb\"", "\"\u{01}\""] {
            #expect(throws: JSONParseError.self, "\(s)") { try parse(s) }
        }
    }

    @Test func rejectsNonJSON() {
        let bad = ["", " ", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "1e", "NaN", "Infinity", "'a'", "[1 2]",
                   "{a:1}", "{\"a\" 1}", "tru", "nulll", "1 2", "[", "{", "\u{FEFF}1", "// c\n1", "1e999"]
        for text in bad {
            #expect(throws: JSONParseError.self, "\(text)") { try parse(text) }
        }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Data([0x22, 0xC3, 0x28, 0x22])) }  // bad UTF-8
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Data([0x22, 0xED, 0xA0, 0x80, 0x22])) }  // surrogate
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Data([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22])) }
        #expect((try? JSONValue(parsing: Data([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]))) == .string("😀"))
    }

    @Test func depthLimit() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        _ = try parse(ok)
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        let error = #expect(throws: JSONParseError.self) { try parse(deep) }
        #expect(error?.message.contains("512") == true)
        let deepObject = String(repeating: "{\"a\":", count: 600) + "1" + String(repeating: "}", count: 600)
        #expect(throws: JSONParseError.self) { try parse(deepObject) }
    }

    @Test func errorOffsets() {
        let error = #expect(throws: JSONParseError.self) { try parse("[1, 2, x]") }
        #expect(error?.offset == 7)
    }

    @Test func serializedRoundTripsThroughFoundation() throws {
        let v = try parse(#"{"n":-12,"x":0.1,"big":1e300,"s":"\u0000q\"","a":[],"o":{},"t":true,"f":false,"z":null}"#)
        let text = v.serialized()
        #expect(try parse(text) == v)
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [String: Any]
        #expect(foundation?["n"] as? Int == -12)
        #expect(foundation?["s"] as? String == "\u{0}q\"")
    }

    @Test func codableKeepsBoolsAndNumbersApart() throws {
        let v = try parse(#"{"a":true,"b":1,"c":0,"d":1.5,"e":"x","f":[null,false]}"#)
        let data = try JSONEncoder().encode(v)
        let back = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(back == v)
        #expect(back["a"] == .bool(true))
        #expect(back["b"] == .integer(1))
        #expect(back["c"] == .integer(0))
        if case .bool = back["b"]! { Issue.record("1 decoded as a Bool") }
        #expect(try JSONDecoder().decode([JSONValue].self, from: Data("[true,1]".utf8)) == [.bool(true), .integer(1)])
    }

    @Test func typeNames() throws {
        #expect(try parse("1.0").typeName == "integer")
        #expect(try parse("1.5").typeName == "number")
        #expect(try parse("[]").typeName == "array")
        #expect(JSONValue.number(.nan).serialized() == "null")
    }
}
