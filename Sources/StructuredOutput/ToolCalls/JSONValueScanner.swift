/// An incremental, validating scanner of one JSON value that writes the value's compact text.
///
/// Bytes go in one at a time; `output` grows with the compact form (whitespace between tokens
/// dropped, strings, numbers and key order kept verbatim), so any prefix of the input maps to a
/// prefix of the final output, which is what lets tool-call arguments stream. Raw control
/// characters inside strings, which strict JSON forbids but models emit, are written as escapes so
/// the output is always valid JSON.
struct JSONValueScanner {
    enum Step: Equatable {
        /// The value is not finished.
        case needMore
        /// The byte finished the value.
        case complete
        /// The value (a bare number) ended just before this byte, which was not consumed.
        case completeBefore
        /// The byte cannot continue a JSON value.
        case invalid
    }

    private enum Container { case object, array }
    private enum NumberState { case minus, zero, integer, dot, fraction, exponent, exponentSign, exponentDigits }
    private enum State {
        case value, valueOrClose, key, keyOrClose, colon, afterValue
        case string(isKey: Bool), escape(isKey: Bool), unicode(isKey: Bool, remaining: Int)
        case number(NumberState)
        case literal([UInt8], matched: Int)
        case done, failed
    }

    private var stack: [Container] = []
    private var state: State = .value
    /// The compact text so far.
    private(set) var output: [UInt8] = []

    /// Whether the first significant byte opened a string.
    var isString: Bool { output.first == UInt8(ascii: "\"") }
    var isComplete: Bool { if case .done = state { true } else { false } }

    mutating func consume(_ byte: UInt8) -> Step {
        switch state {
        case .done, .failed:
            state = .failed
            return .invalid
        case .value:
            if isJSONWhitespace(byte) { return .needMore }
            return startValue(byte)
        case .valueOrClose:
            if isJSONWhitespace(byte) { return .needMore }
            if byte == UInt8(ascii: "]") { return close(byte) }
            return startValue(byte)
        case .keyOrClose, .key:
            if isJSONWhitespace(byte) { return .needMore }
            if byte == UInt8(ascii: "\"") {
                output.append(byte)
                state = .string(isKey: true)
                return .needMore
            }
            if case .keyOrClose = state, byte == UInt8(ascii: "}") { return close(byte) }
            return fail()
        case .colon:
            if isJSONWhitespace(byte) { return .needMore }
            guard byte == UInt8(ascii: ":") else { return fail() }
            output.append(byte)
            state = .value
            return .needMore
        case .afterValue:
            if isJSONWhitespace(byte) { return .needMore }
            switch (stack.last, byte) {
            case (.object, UInt8(ascii: ",")): output.append(byte); state = .key; return .needMore
            case (.array, UInt8(ascii: ",")): output.append(byte); state = .value; return .needMore
            case (.object, UInt8(ascii: "}")), (.array, UInt8(ascii: "]")): return close(byte)
            default: return fail()
            }
        case .string(let isKey):
            switch byte {
            case UInt8(ascii: "\""):
                output.append(byte)
                if isKey { state = .colon; return .needMore }
                return endValue()
            case UInt8(ascii: "\\"):
                output.append(byte)
                state = .escape(isKey: isKey)
            case 0..<0x20:
                output.append(contentsOf: escapedControl(byte))
            default:
                output.append(byte)
            }
            return .needMore
        case .escape(let isKey):
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                state = .string(isKey: isKey)
            case UInt8(ascii: "u"):
                state = .unicode(isKey: isKey, remaining: 4)
            default:
                return fail()
            }
            output.append(byte)
            return .needMore
        case .unicode(let isKey, let remaining):
            guard jsonHexDigit(byte) != nil else { return fail() }
            output.append(byte)
            state = remaining == 1 ? .string(isKey: isKey) : .unicode(isKey: isKey, remaining: remaining - 1)
            return .needMore
        case .number(let n):
            if let next = Self.advance(n, byte) {
                output.append(byte)
                state = .number(next)
                return .needMore
            }
            guard Self.isTerminal(n) else { return fail() }
            if stack.isEmpty {
                state = .done
                return .completeBefore
            }
            state = .afterValue
            return consume(byte)
        case .literal(let word, let matched):
            guard word[matched] == byte else { return fail() }
            output.append(byte)
            if matched + 1 == word.count { return endValue() }
            state = .literal(word, matched: matched + 1)
            return .needMore
        }
    }

    /// Ends the input; true when a whole value was read (a bare number ends here).
    mutating func finish() -> Bool {
        switch state {
        case .done: return true
        case .number(let n) where stack.isEmpty && Self.isTerminal(n):
            state = .done
            return true
        default: return false
        }
    }

    private mutating func startValue(_ byte: UInt8) -> Step {
        switch byte {
        case UInt8(ascii: "{"):
            stack.append(.object); output.append(byte); state = .keyOrClose
        case UInt8(ascii: "["):
            stack.append(.array); output.append(byte); state = .valueOrClose
        case UInt8(ascii: "\""):
            output.append(byte); state = .string(isKey: false)
        case UInt8(ascii: "-"):
            output.append(byte); state = .number(.minus)
        case UInt8(ascii: "0"):
            output.append(byte); state = .number(.zero)
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            output.append(byte); state = .number(.integer)
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let word: [UInt8] = byte == UInt8(ascii: "t") ? Array("true".utf8) : byte == UInt8(ascii: "f") ? Array("false".utf8) : Array("null".utf8)
            output.append(byte); state = .literal(word, matched: 1)
        default:
            return fail()
        }
        return .needMore
    }

    private mutating func close(_ byte: UInt8) -> Step {
        output.append(byte)
        stack.removeLast()
        return endValue()
    }

    private mutating func endValue() -> Step {
        if stack.isEmpty {
            state = .done
            return .complete
        }
        state = .afterValue
        return .needMore
    }

    private mutating func fail() -> Step {
        state = .failed
        return .invalid
    }

    private static func advance(_ n: NumberState, _ byte: UInt8) -> NumberState? {
        let digit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        let e = byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        switch n {
        case .minus: return byte == UInt8(ascii: "0") ? .zero : digit ? .integer : nil
        case .zero: return byte == UInt8(ascii: ".") ? .dot : e ? .exponent : nil
        case .integer: return digit ? .integer : byte == UInt8(ascii: ".") ? .dot : e ? .exponent : nil
        case .dot: return digit ? .fraction : nil
        case .fraction: return digit ? .fraction : e ? .exponent : nil
        case .exponent: return byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") ? .exponentSign : digit ? .exponentDigits : nil
        case .exponentSign, .exponentDigits: return digit ? .exponentDigits : nil
        }
    }

    private static func isTerminal(_ n: NumberState) -> Bool {
        switch n {
        case .zero, .integer, .fraction, .exponentDigits: true
        default: false
        }
    }

    private func escapedControl(_ byte: UInt8) -> [UInt8] {
        switch byte {
        case 0x0A: return Array("\\n".utf8)
        case 0x0D: return Array("\\r".utf8)
        case 0x09: return Array("\\t".utf8)
        default:
            let hex = Array("0123456789abcdef".utf8)
            return Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        }
    }
}

@inline(__always) func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
}

@inline(__always) func jsonHexDigit(_ byte: UInt8) -> UInt32? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
    default: nil
    }
}

/// Decodes the text of a compact JSON string literal (quotes included) into its value.
func decodeJSONString(_ literal: ArraySlice<UInt8>) -> String? {
    guard literal.count >= 2, literal.first == UInt8(ascii: "\""), literal.last == UInt8(ascii: "\"") else { return nil }
    let body = Array(literal.dropFirst().dropLast())
    var scalars = String.UnicodeScalarView()
    var bytes: [UInt8] = []  // pending raw UTF-8
    func flush() {
        if !bytes.isEmpty { scalars.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars); bytes.removeAll() }
    }
    var i = 0
    func hex4(_ at: Int) -> UInt32? {
        guard at + 4 <= body.count else { return nil }
        var v: UInt32 = 0
        for k in at..<at + 4 { guard let h = jsonHexDigit(body[k]) else { return nil }; v = v << 4 | h }
        return v
    }
    while i < body.count {
        let b = body[i]
        guard b == UInt8(ascii: "\\") else { bytes.append(b); i += 1; continue }
        guard i + 1 < body.count else { return nil }
        let e = body[i + 1]
        i += 2
        switch e {
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            guard var v = hex4(i) else { return nil }
            i += 4
            if (0xD800..<0xDC00).contains(v), i + 6 <= body.count, body[i] == UInt8(ascii: "\\"), body[i + 1] == UInt8(ascii: "u"),
                let low = hex4(i + 2), (0xDC00..<0xE000).contains(low)
            {
                v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                i += 6
            }
            flush()
            scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
        default: bytes.append(e)  // \" \\ \/
        }
    }
    flush()
    return String(scalars)
}
