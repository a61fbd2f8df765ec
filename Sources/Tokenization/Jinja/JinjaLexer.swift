/// One token of a Jinja template: text between tags, tag delimiters, and expression tokens.
struct JinjaToken: Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+ - * / // % ** ~ == != < > <= >= = ( ) [ ] { } , . : |`.
        case symbol(String)
        case endOfInput
    }

    var kind: Kind
    var line: Int
}

/// Splits a template into tokens the way Jinja2 does with Hugging Face's settings
/// (`trim_blocks`, `lstrip_blocks`, no `keep_trailing_newline`): `-` and `+` whitespace control,
/// the first newline after a block or comment tag dropped, indentation before a block or comment
/// tag on its own line dropped.
struct JinjaLexer {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStarting = true
    private var tokens: [JinjaToken] = []

    init(_ source: String) {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(source.utf8.count)
        var previousWasCR = false
        for b in source.utf8 {
            if b == 0x0D {
                normalized.append(0x0A)
            } else if !(b == 0x0A && previousWasCR) {
                normalized.append(b)
            }
            previousWasCR = b == 0x0D
        }
        if normalized.last == 0x0A { normalized.removeLast() }
        bytes = normalized
    }

    static func tokenize(_ source: String) throws(ChatTemplateError) -> [JinjaToken] {
        var lexer = JinjaLexer(source)
        try lexer.run()
        return lexer.tokens
    }

    private mutating func run() throws(ChatTemplateError) {
        while pos < bytes.count {
            guard let start = nextTagStart() else {
                emitText(pos..<bytes.count)
                break
            }
            let kind = bytes[start + 1]
            let sign = start + 2 < bytes.count ? bytes[start + 2] : 0
            var textEnd = start
            if sign == UInt8(ascii: "-") {
                while textEnd > pos && isWhitespace(bytes[textEnd - 1]) { textEnd -= 1 }
            } else if sign != UInt8(ascii: "+") && kind != UInt8(ascii: "{") {
                textEnd = lstripped(textEnd)
            }
            emitText(pos..<textEnd)
            line += count(newlinesIn: textEnd..<start)
            pos = start + 2 + (sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") ? 1 : 0)
            switch kind {
            case UInt8(ascii: "#"): try skipComment()
            case UInt8(ascii: "%"): try lexTag(isBlock: true)
            default: try lexTag(isBlock: false)
            }
        }
        tokens.append(JinjaToken(kind: .endOfInput, line: line))
    }

    private func nextTagStart() -> Int? {
        var i = pos
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "{") {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") { return i }
            }
            i += 1
        }
        return nil
    }

    /// `lstrip_blocks`: drop spaces between the start of the line and a block or comment tag.
    private func lstripped(_ end: Int) -> Int {
        var lineStart = end
        while lineStart > pos && bytes[lineStart - 1] != 0x0A { lineStart -= 1 }
        guard lineStart > pos || lineStarting else { return end }
        guard lineStart < end, bytes[lineStart..<end].allSatisfy(isWhitespace) else { return end }
        return lineStart
    }

    private mutating func emitText(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        tokens.append(JinjaToken(kind: .text(String(decoding: bytes[range], as: UTF8.self)), line: line))
        line += count(newlinesIn: range)
        lineStarting = bytes[range.upperBound - 1] == 0x0A
    }

    private func count(newlinesIn range: Range<Int>) -> Int {
        bytes[range].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    private func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0B || b == 0x0C || b == 0x0D
    }

    private mutating func skipComment() throws(ChatTemplateError) {
        var i = pos
        while i + 1 < bytes.count && !(bytes[i] == UInt8(ascii: "#") && bytes[i + 1] == UInt8(ascii: "}")) { i += 1 }
        guard i + 1 < bytes.count else { throw .syntax(message: "missing end of comment tag", line: line) }
        line += count(newlinesIn: pos..<i)
        let control = i > pos ? bytes[i - 1] : 0
        pos = i + 2
        finishTag(control: control, isBlock: true)
    }

    /// After a closing delimiter: `-` strips the whitespace that follows, `trim_blocks` drops
    /// one newline after a block tag unless `+`.
    private mutating func finishTag(control: UInt8, isBlock: Bool) {
        let start = pos
        if control == UInt8(ascii: "-") {
            while pos < bytes.count && isWhitespace(bytes[pos]) { pos += 1 }
        } else if isBlock && control != UInt8(ascii: "+") && pos < bytes.count && bytes[pos] == 0x0A {
            pos += 1
        }
        line += count(newlinesIn: start..<pos)
        lineStarting = pos > start && bytes[pos - 1] == 0x0A
    }

    private mutating func lexTag(isBlock: Bool) throws(ChatTemplateError) {
        tokens.append(JinjaToken(kind: isBlock ? .blockBegin : .variableBegin, line: line))
        var depth = 0
        while true {
            while pos < bytes.count && isWhitespace(bytes[pos]) {
                if bytes[pos] == 0x0A { line += 1 }
                pos += 1
            }
            guard pos < bytes.count else {
                throw .syntax(message: "unexpected end of template, expected '\(isBlock ? "%}" : "}}")'", line: line)
            }
            if depth == 0, let (length, control) = closingDelimiter(isBlock: isBlock) {
                pos += length
                tokens.append(JinjaToken(kind: isBlock ? .blockEnd : .variableEnd, line: line))
                finishTag(control: control, isBlock: isBlock)
                return
            }
            let token = try lexExpressionToken()
            if case .symbol(let s) = token {
                if s == "(" || s == "[" || s == "{" { depth += 1 }
                if s == ")" || s == "]" || s == "}" {
                    guard depth > 0 else { throw .syntax(message: "unexpected '\(s)'", line: line) }
                    depth -= 1
                }
            }
            tokens.append(JinjaToken(kind: token, line: line))
        }
    }

    /// The closing `%}` / `}}` at `pos`, with its `-` / `+` control character if any.
    private func closingDelimiter(isBlock: Bool) -> (length: Int, control: UInt8)? {
        let close: [UInt8] = isBlock ? [UInt8(ascii: "%"), UInt8(ascii: "}")] : [UInt8(ascii: "}"), UInt8(ascii: "}")]
        func matches(at i: Int) -> Bool { i + 1 < bytes.count && bytes[i] == close[0] && bytes[i + 1] == close[1] }
        if matches(at: pos) { return (2, 0) }
        let c = bytes[pos]
        if (c == UInt8(ascii: "-") || (isBlock && c == UInt8(ascii: "+"))) && matches(at: pos + 1) { return (3, c) }
        return nil
    }

    private static let symbols2: Set<String> = ["//", "**", "==", "!=", "<=", ">="]
    private static let symbols1: Set<UInt8> = Set("+-*/%~<>=()[]{},.:|".utf8)

    private mutating func lexExpressionToken() throws(ChatTemplateError) -> JinjaToken.Kind {
        let c = bytes[pos]
        if isIdentifierStart(c) {
            let start = pos
            while pos < bytes.count && (isIdentifierStart(bytes[pos]) || isDigit(bytes[pos])) { pos += 1 }
            return .name(String(decoding: bytes[start..<pos], as: UTF8.self))
        }
        if isDigit(c) { return try lexNumber() }
        if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { return try lexString(quote: c) }
        if pos + 1 < bytes.count {
            let two = String(decoding: bytes[pos..<(pos + 2)], as: UTF8.self)
            if Self.symbols2.contains(two) {
                pos += 2
                return .symbol(two)
            }
        }
        if Self.symbols1.contains(c) {
            pos += 1
            return .symbol(String(UnicodeScalar(c)))
        }
        throw .syntax(message: "unexpected character '\(String(UnicodeScalar(c)))'", line: line)
    }

    private func isIdentifierStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_")
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func lexNumber() throws(ChatTemplateError) -> JinjaToken.Kind {
        let start = pos
        var isFloat = false
        while pos < bytes.count && (isDigit(bytes[pos]) || bytes[pos] == UInt8(ascii: "_")) { pos += 1 }
        if pos + 1 < bytes.count && bytes[pos] == UInt8(ascii: ".") && isDigit(bytes[pos + 1]) {
            isFloat = true
            pos += 1
            while pos < bytes.count && isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count && (bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E")) {
            var p = pos + 1
            if p < bytes.count && (bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-")) { p += 1 }
            if p < bytes.count && isDigit(bytes[p]) {
                isFloat = true
                pos = p
                while pos < bytes.count && isDigit(bytes[pos]) { pos += 1 }
            }
        }
        let text = String(decoding: bytes[start..<pos].filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        if isFloat, let d = Double(text) { return .float(d) }
        if let i = Int(text) { return .integer(i) }
        throw .syntax(message: "bad number '\(text)'", line: line)
    }

    /// A quoted string with Python's escapes.
    private mutating func lexString(quote: UInt8) throws(ChatTemplateError) -> JinjaToken.Kind {
        let startLine = line
        pos += 1
        var out: [UInt8] = []
        while pos < bytes.count && bytes[pos] != quote {
            let c = bytes[pos]
            if c == 0x0A { line += 1 }
            guard c == UInt8(ascii: "\\"), pos + 1 < bytes.count else {
                out.append(c)
                pos += 1
                continue
            }
            pos += 2
            switch bytes[pos - 1] {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "0"): out.append(0x00)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "'"): out.append(UInt8(ascii: "'"))
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case 0x0A: line += 1
            case UInt8(ascii: "x"): out += try hexEscape(digits: 2)
            case UInt8(ascii: "u"): out += try hexEscape(digits: 4)
            case UInt8(ascii: "U"): out += try hexEscape(digits: 8)
            default: out += [UInt8(ascii: "\\"), bytes[pos - 1]]
            }
        }
        guard pos < bytes.count else { throw .syntax(message: "unterminated string", line: startLine) }
        pos += 1
        return .string(String(decoding: out, as: UTF8.self))
    }

    private mutating func hexEscape(digits: Int) throws(ChatTemplateError) -> [UInt8] {
        guard pos + digits <= bytes.count,
              let value = UInt32(String(decoding: bytes[pos..<(pos + digits)], as: UTF8.self), radix: 16),
              let scalar = UnicodeScalar(value)
        else { throw .syntax(message: "bad \\x, \\u or \\U escape", line: line) }
        pos += digits
        return Array(String(Character(scalar)).utf8)
    }
}
