/// Reads llama.cpp's GBNF grammar format into a ``GrammarDefinition``.
///
/// ```
/// root   ::= answer ("," ws answer)*      # comments run to the end of the line
/// answer ::= "yes" | 'no' | [0-9]{1,3} | .
/// ws     ::= [ \t\n]*
/// ```
///
/// - Rules are `name ::= alternatives`; names use letters, digits, `-` and `_`. A rule may span
///   any number of lines: the next rule starts where a name is followed by `::=`.
/// - Alternatives are separated by `|`; an alternative may be empty.
/// - Terminals: string literals in `"…"` or `'…'`, character classes `[a-z_]` / `[^"\\]`, and `.`
///   (any one character, newlines included). Escapes in literals and classes: `\n \r \t \\ \" \'
///   \[ \] \- \^ \/ \xHH \uHHHH \UHHHHHHHH` (all name Unicode scalars, as in llama.cpp).
/// - Groups `( … )` and postfix operators `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}`.
/// - The start rule is `root`.
///
/// Syntax errors are ``GrammarError/syntax(_:offset:)`` with a UTF-8 byte offset into the text;
/// a rule defined twice is ``GrammarError/duplicateRule(_:)``. References to undefined rules are
/// reported when the definition is compiled with ``Grammar/init(_:)``.
public enum GBNFParser {
    /// Parses GBNF `text` into named rules with root `root`.
    public static func parse(_ text: String) throws(GrammarError) -> GrammarDefinition {
        var parser = GBNFReader(Array(text.utf8))
        return try parser.grammar()
    }
}

/// The recursive-descent reader behind ``GBNFParser`` (one pass over the UTF-8 bytes).
private struct GBNFReader {
    private let bytes: [UInt8]
    private var pos = 0
    /// Open groups around `pos` (bounded so a hostile grammar cannot exhaust the stack).
    private var depth = 0
    static let maxDepth = 256

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func grammar() throws(GrammarError) -> GrammarDefinition {
        var definition = GrammarDefinition()
        skipSpace()
        guard pos < bytes.count else { throw .syntax("the grammar has no rules (expected 'name ::= ...')", offset: pos) }
        while pos < bytes.count {
            guard let name = readName() else {
                throw .syntax("expected a rule name, found \(describe(pos))", offset: pos)
            }
            skipSpace()
            guard lookingAt("::=") else {
                throw .syntax("expected '::=' after rule name '\(name)', found \(describe(pos))", offset: pos)
            }
            pos += 3
            skipSpace()
            let body = try alternatives()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ")") {
                throw .syntax("unexpected ')' without a matching '('", offset: pos)
            }
            guard !definition.contains(name) else { throw .duplicateRule(name) }
            definition.define(name, body)
        }
        return definition
    }

    // MARK: - Expressions

    /// `sequence ('|' sequence)*`, stopping before `)`, the end, or the next `name ::=`.
    private mutating func alternatives() throws(GrammarError) -> GrammarExpr {
        var options = [try sequence()]
        while pos < bytes.count, bytes[pos] == UInt8(ascii: "|") {
            pos += 1
            skipSpace()
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    private mutating func sequence() throws(GrammarError) -> GrammarExpr {
        var items: [GrammarExpr] = []
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "|") || c == UInt8(ascii: ")") { break }
            if Self.isNameByte(c), startsRule() { break }
            var item = try primary()
            skipSpace()
            while let (min, max) = try postfix() {
                item = .repeat(item, min: min, max: max)
                skipSpace()
            }
            items.append(item)
        }
        let merged = Self.mergeLiterals(items)
        return merged.count == 1 ? merged[0] : .sequence(merged)
    }

    private mutating func primary() throws(GrammarError) -> GrammarExpr {
        let c = bytes[pos]
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return try stringLiteral()
        case UInt8(ascii: "["):
            return try characterClass()
        case UInt8(ascii: "."):
            pos += 1
            return .anyCharacter
        case UInt8(ascii: "("):
            let open = pos
            guard depth < Self.maxDepth else { throw .syntax("groups nest more than \(Self.maxDepth) deep", offset: open) }
            pos += 1
            skipSpace()
            depth += 1
            let inner = try alternatives()
            depth -= 1
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ")") else {
                throw .syntax("expected ')' to close the '(' at offset \(open), found \(describe(pos))", offset: pos)
            }
            pos += 1
            return inner
        case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"):
            throw .syntax("'\(Character(Unicode.Scalar(c)))' must follow an item it repeats", offset: pos)
        case UInt8(ascii: "<"):
            throw .syntax("token references such as <[id]> or <token> are not supported", offset: pos)
        default:
            if let name = readName() { return .reference(name) }
            throw .syntax("expected a string, a character class, '.', '(' or a rule name, found \(describe(pos))",
                          offset: pos)
        }
    }

    /// `*`, `+`, `?` or `{m}`, `{m,}`, `{m,n}` (nil when none follows).
    private mutating func postfix() throws(GrammarError) -> (Int, Int?)? {
        guard pos < bytes.count else { return nil }
        switch bytes[pos] {
        case UInt8(ascii: "*"): pos += 1; return (0, nil)
        case UInt8(ascii: "+"): pos += 1; return (1, nil)
        case UInt8(ascii: "?"): pos += 1; return (0, 1)
        case UInt8(ascii: "{"):
            let open = pos
            pos += 1
            skipSpace()
            let min = try integer(in: "a repetition {m,n}")
            skipSpace()
            var max: Int? = min
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                skipSpace()
                max = nil
                if pos < bytes.count, Self.isDigit(bytes[pos]) {
                    max = try integer(in: "a repetition {m,n}")
                    skipSpace()
                }
            }
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "}") else {
                throw .syntax("expected '}' to close the repetition at offset \(open), found \(describe(pos))", offset: pos)
            }
            if let max, max < min {
                throw .syntax("repetition {\(min),\(max)} has its maximum below its minimum", offset: open)
            }
            pos += 1
            return (min, max)
        default:
            return nil
        }
    }

    private mutating func integer(in context: String) throws(GrammarError) -> Int {
        let start = pos
        var value = 0
        while pos < bytes.count, Self.isDigit(bytes[pos]) {
            value = value * 10 + Int(bytes[pos] - UInt8(ascii: "0"))
            guard value <= 1_000_000 else { throw .syntax("number too large in \(context)", offset: start) }
            pos += 1
        }
        guard pos > start else { throw .syntax("expected a number in \(context), found \(describe(pos))", offset: pos) }
        return value
    }

    // MARK: - Terminals

    private mutating func stringLiteral() throws(GrammarError) -> GrammarExpr {
        let open = pos
        let quote = bytes[pos]
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else {
                throw .syntax("unterminated string literal (opened at offset \(open))", offset: open)
            }
            let c = bytes[pos]
            if c == quote { pos += 1; break }
            if c == UInt8(ascii: "\\") {
                let at = pos
                let scalar = try escape()
                guard let s = Unicode.Scalar(scalar) else {
                    throw .syntax("escape names U+\(String(scalar, radix: 16, uppercase: true)), not a Unicode scalar", offset: at)
                }
                out.append(contentsOf: Array(String(Character(s)).utf8))
            } else {
                out.append(c)  // raw bytes of the (valid UTF-8) text are copied as they are
                pos += 1
            }
        }
        return .literal(out)
    }

    private mutating func characterClass() throws(GrammarError) -> GrammarExpr {
        let open = pos
        pos += 1
        var negated = false
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "^") {
            negated = true
            pos += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard pos < bytes.count else {
                throw .syntax("unterminated character class (opened at offset \(open))", offset: open)
            }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; break }
            let lowAt = pos
            let low = try classCharacter(open: open)
            if pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "-"), bytes[pos + 1] != UInt8(ascii: "]") {
                pos += 1
                let high = try classCharacter(open: open)
                guard low <= high else {
                    throw .syntax("character range is out of order (U+\(String(low, radix: 16, uppercase: true)) > "
                                  + "U+\(String(high, radix: 16, uppercase: true)))", offset: lowAt)
                }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        return .characters(ranges, negated: negated)
    }

    private mutating func classCharacter(open: Int) throws(GrammarError) -> UInt32 {
        guard pos < bytes.count else {
            throw .syntax("unterminated character class (opened at offset \(open))", offset: open)
        }
        if bytes[pos] == UInt8(ascii: "\\") { return try escape() }
        return decodeScalar()
    }

    /// One backslash escape starting at `pos`; returns the code point it names.
    private mutating func escape() throws(GrammarError) -> UInt32 {
        let at = pos
        pos += 1
        guard pos < bytes.count else { throw .syntax("a '\\' at the end of the text escapes nothing", offset: at) }
        let c = bytes[pos]
        pos += 1
        switch c {
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "["), UInt8(ascii: "]"),
             UInt8(ascii: "-"), UInt8(ascii: "^"), UInt8(ascii: "/"):
            return UInt32(c)
        case UInt8(ascii: "x"): return try hexDigits(2, escapeAt: at)
        case UInt8(ascii: "u"): return try hexDigits(4, escapeAt: at)
        case UInt8(ascii: "U"): return try hexDigits(8, escapeAt: at)
        default:
            pos -= 1
            throw .syntax("unknown escape '\\\(describeScalar(decodeScalar()))' (expected one of "
                          + "\\n \\r \\t \\\\ \\\" \\' \\[ \\] \\- \\^ \\/ \\xHH \\uHHHH \\UHHHHHHHH)", offset: at)
        }
    }

    private mutating func hexDigits(_ count: Int, escapeAt: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard pos < bytes.count, let digit = TextBytes.hexValue(bytes[pos]) else {
                throw .syntax("expected \(count) hex digits in the escape, found \(describe(pos))", offset: pos)
            }
            value = value << 4 | digit
            pos += 1
        }
        guard value <= 0x10FFFF else { throw .syntax("escape names a code point above U+10FFFF", offset: escapeAt) }
        return value
    }

    // MARK: - Lexical helpers

    /// Skips spaces, tabs, newlines and `#` comments.
    private mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                pos += 1
            case UInt8(ascii: "#"):
                while pos < bytes.count, bytes[pos] != UInt8(ascii: "\n") { pos += 1 }
            default:
                return
            }
        }
    }

    private mutating func readName() -> String? {
        let start = pos
        while pos < bytes.count, Self.isNameByte(bytes[pos]) { pos += 1 }
        guard pos > start else { return nil }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    /// Whether a name followed by `::=` starts at `pos` (the beginning of the next rule).
    private func startsRule() -> Bool {
        var copy = self
        guard copy.readName() != nil else { return false }
        copy.skipSpace()
        return copy.lookingAt("::=")
    }

    private func lookingAt(_ text: String) -> Bool {
        let t = Array(text.utf8)
        return pos + t.count <= bytes.count && Array(bytes[pos..<pos + t.count]) == t
    }

    /// Decodes the UTF-8 scalar at `pos` and steps over it.
    private mutating func decodeScalar() -> UInt32 {
        let (value, next) = TextBytes.scalar(in: bytes, at: pos)
        pos = next
        return value
    }

    private func describe(_ at: Int) -> String {
        guard at < bytes.count else { return "the end of the text" }
        var copy = self
        copy.pos = at
        return "'\(describeScalar(copy.decodeScalar()))'"
    }

    private func describeScalar(_ value: UInt32) -> String {
        guard let s = Unicode.Scalar(value) else { return "?" }
        return s.escaped(asASCII: false)
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || isDigit(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }


    /// Joins adjacent literals so `"a" "b"` is one literal.
    private static func mergeLiterals(_ items: [GrammarExpr]) -> [GrammarExpr] {
        var out: [GrammarExpr] = []
        for item in items {
            if case .literal(let b) = item, case .literal(let a)? = out.last {
                out[out.count - 1] = .literal(a + b)
            } else {
                out.append(item)
            }
        }
        return out
    }
}
