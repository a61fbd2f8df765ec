import Foundation

/// A JSON value that keeps what JSON Schema and the server care about: object members stay in
/// source order, and integers stay exact.
///
/// Numbers: a number written without a fraction or an exponent that fits `Int` is
/// ``integer(_:)``; every other number is ``number(_:)``. Equality and hashing compare numbers by
/// value (`.integer(1) == .number(1.0)`), and objects as unordered sets of members, as JSON
/// Schema's `enum` and `const` do; ``serialized()`` keeps the member order.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// An integer written without fraction or exponent that fits `Int`.
    case integer(Int)
    /// Any other number (never NaN or infinite when parsed).
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in source order (a duplicate key keeps its first position and its last value).
    case object([(key: String, value: JSONValue)])

    /// The value of the member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The members of an object, in order (nil for other values).
    public var objectMembers: [(key: String, value: JSONValue)]? {
        if case .object(let m) = self { m } else { nil }
    }

    /// The items of an array (nil for other values).
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { a } else { nil }
    }

    /// The text of a string (nil for other values).
    public var stringValue: String? {
        if case .string(let s) = self { s } else { nil }
    }

    /// The value of a boolean (nil for other values).
    public var boolValue: Bool? {
        if case .bool(let b) = self { b } else { nil }
    }

    /// The numeric value of ``integer(_:)`` or ``number(_:)``.
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }

    /// The value as an exact `Int`: ``integer(_:)``, or ``number(_:)`` when it is integral and fits.
    public var intValue: Int? {
        switch self {
        case .integer(let i): i
        case .number(let d): Self.exactInt(d)
        default: nil
        }
    }

    /// The JSON Schema type name: null, boolean, integer, number, string, array or object
    /// (an integral ``number(_:)`` is "integer", as JSON Schema counts 1.0 as an integer).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number(let d): d.isFinite && d.rounded(.towardZero) == d ? "integer" : "number"  // whole numbers beyond Int too
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func exactInt(_ d: Double) -> Int? {
        guard d.isFinite, d.rounded() == d, d >= -9.2e18, d <= 9.2e18 else { return nil }
        return Int(d)
    }

    /// JSON Schema equality: numbers by value, objects regardless of member order.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.integer, .number), (.number, .integer), (.number, .number):
            if let x = a.intValue, let y = b.intValue { return x == y }
            return a.doubleValue == b.doubleValue
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            return x.allSatisfy { member in y.contains { $0.key == member.key && $0.value == member.value } }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .integer, .number:
            hasher.combine(2)
            if let i = intValue { hasher.combine(i) } else { hasher.combine(doubleValue ?? 0) }
        case .string(let s): hasher.combine(3); hasher.combine(s)
        case .array(let a): hasher.combine(4); hasher.combine(a)
        case .object(let members):
            hasher.combine(5)
            // Order-independent, to agree with ==.
            var sum = 0
            for m in members {
                var h = Hasher()
                h.combine(m.key)
                h.combine(m.value)
                sum = sum &+ h.finalize()
            }
            hasher.combine(sum)
        }
    }
}

// MARK: - Parsing

/// Why a text is not JSON; `offset` is the byte offset of the problem.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int

    public init(_ message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

extension JSONValue {
    /// Deepest nesting of arrays and objects the parser accepts.
    public static let maxDepth = 512

    /// Parses one JSON text (RFC 8259, strict: no comments, trailing commas, NaN, single quotes
    /// or lone surrogates; whitespace only around the value), nested at most ``maxDepth`` deep.
    public init(parsing data: Data) throws(JSONParseError) {
        var parser = JSONTextParser(bytes: [UInt8](data))
        self = try parser.parseDocument()
    }

    /// Parses one JSON text; see ``init(parsing:)-(Data)``.
    public init(parsing text: String) throws(JSONParseError) {
        var parser = JSONTextParser(bytes: Array(text.utf8))
        self = try parser.parseDocument()
    }
}

/// A strict recursive-descent JSON parser over UTF-8 bytes.
struct JSONTextParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard i == bytes.count else { throw JSONParseError("unexpected text after the value", offset: i) }
        return value
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expectLiteral(_ word: StaticString) throws(JSONParseError) {
        let start = i
        let count = word.utf8CodeUnitCount
        guard bytes.count - i >= count else { throw JSONParseError("invalid literal", offset: start) }
        let p = word.utf8Start
        for k in 0..<count where bytes[i + k] != p[k] { throw JSONParseError("invalid literal", offset: start) }
        i += count
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard i < bytes.count else { throw JSONParseError("unexpected end of input", offset: i) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw JSONParseError("unexpected character", offset: i)
        }
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        guard depth <= JSONValue.maxDepth else {
            throw JSONParseError("nesting deeper than \(JSONValue.maxDepth)", offset: i)
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        i += 1
        var members: [(key: String, value: JSONValue)] = []
        var index: [String: Int] = [:]
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw JSONParseError("expected a string key", offset: i)
            }
            let key = try parseString()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw JSONParseError("expected ':'", offset: i) }
            i += 1
            skipWhitespace()
            let value = try parseValue()
            if let at = index[key] { members[at].value = value } else {
                index[key] = members.count
                members.append((key, value))
            }
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError("unterminated object", offset: i) }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
            throw JSONParseError("expected ',' or '}'", offset: i)
        }
        depth -= 1
        return .object(members)
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard i < bytes.count else { throw JSONParseError("unterminated array", offset: i) }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; break }
            throw JSONParseError("expected ',' or ']'", offset: i)
        }
        depth -= 1
        return .array(items)
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, Self.isDigit(bytes[i]) else { throw JSONParseError("expected a digit", offset: i) }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, Self.isDigit(bytes[i]) { throw JSONParseError("leading zero in a number", offset: i) }
        } else {
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        var isInteger = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw JSONParseError("expected a digit after '.'", offset: i) }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw JSONParseError("expected a digit in the exponent", offset: i) }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw JSONParseError("number out of range", offset: start) }
        return .number(value)
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.count - i >= 4 else { throw JSONParseError("truncated \\u escape", offset: i) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw JSONParseError("invalid hex digit in \\u escape", offset: i)
            }
            value = value << 4 | digit
            i += 1
        }
        return value
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        i += 1
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < bytes.count else { throw JSONParseError("unterminated string", offset: i) }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                break
            }
            if b < 0x20 { throw JSONParseError("control character in a string", offset: i) }
            if b == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard i < bytes.count else { throw JSONParseError("unterminated escape", offset: i) }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let at = i - 2
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw JSONParseError("lone high surrogate", offset: at)
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw JSONParseError("invalid low surrogate", offset: at) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw JSONParseError("lone low surrogate", offset: at)
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default: throw JSONParseError("invalid escape", offset: i - 1)
                }
                runStart = i
                continue
            }
            if b >= 0x80 {
                // Validate one UTF-8 sequence.
                let length = try utf8Length(at: i)
                i += length
                continue
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The length of the well-formed UTF-8 sequence at `at` (Unicode Table 3-7).
    private func utf8Length(at: Int) throws(JSONParseError) -> Int {
        let b0 = bytes[at]
        let (count, lo, hi): (Int, UInt8, UInt8)
        switch b0 {
        case 0xC2...0xDF: (count, lo, hi) = (2, 0x80, 0xBF)
        case 0xE0: (count, lo, hi) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (count, lo, hi) = (3, 0x80, 0xBF)
        case 0xED: (count, lo, hi) = (3, 0x80, 0x9F)
        case 0xF0: (count, lo, hi) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (count, lo, hi) = (4, 0x80, 0xBF)
        case 0xF4: (count, lo, hi) = (4, 0x80, 0x8F)
        default: throw JSONParseError("invalid UTF-8", offset: at)
        }
        guard bytes.count - at >= count, (lo...hi).contains(bytes[at + 1]) else {
            throw JSONParseError("invalid UTF-8", offset: at)
        }
        for k in 2..<max(count, 2) where !(0x80...0xBF).contains(bytes[at + k]) {
            throw JSONParseError("invalid UTF-8", offset: at)
        }
        return count
    }
}

// MARK: - Serializing

extension JSONValue {
    /// Compact JSON (no whitespace), object members in their stored order, strings escaped
    /// minimally (`"`, `\` and control characters; other characters as UTF-8), integers exact,
    /// other numbers in Swift's shortest round-trip form. A NaN or infinite number, which JSON
    /// cannot write, is written as `null`.
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (k, item) in items.enumerated() {
                if k > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (k, member) in members.enumerated() {
                if k > 0 { out += "," }
                Self.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// `s` as a JSON string literal, quotes included.
    static func quoted(_ s: String) -> String {
        var out = ""
        writeString(s, to: &out)
        return out
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes any JSON value. Through a keyed container object members come in the decoder's
    /// order (JSONDecoder does not promise source order); use ``init(parsing:)-(Data)`` where
    /// member order matters.
    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [(key: String, value: JSONValue)] = []
            for key in object.allKeys { members.append((key.stringValue, try object.decode(JSONValue.self, forKey: key))) }
            self = .object(members)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null; return }
        // Bool first: JSONDecoder does not turn a number into a Bool, nor a Bool into a number.
        if let b = try? single.decode(Bool.self) { self = .bool(b); return }
        if let i = try? single.decode(Int.self) { self = .integer(i); return }
        if let d = try? single.decode(Double.self) { self = .number(d); return }
        if let s = try? single.decode(String.self) { self = .string(s); return }
        throw DecodingError.dataCorruptedError(in: single, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: AnyKey.self)
            for m in members { try c.encode(m.value, forKey: AnyKey(m.key)) }
        default:
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let b): try c.encode(b)
            case .integer(let i): try c.encode(i)
            case .number(let d): try c.encode(d)
            case .string(let s): try c.encode(s)
            default: break
            }
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
