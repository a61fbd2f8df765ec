/// JSON in and out of ``JinjaValue``s: `tojson` writes what Python's `json.dumps` writes (the
/// filter Hugging Face installs), and ``JinjaValue/init(json:)`` reads JSON keeping key order.
enum JinjaJSON {
    static func encode(_ value: JinjaValue, indent: JinjaValue?, separators: JinjaValue?, sortKeys: Bool,
                       ensureASCII: Bool, namespaces: [JinjaObject]) throws(ChatTemplateError) -> String {
        var indentUnit: String?
        switch indent {
        case .int(let n)?: indentUnit = String(repeating: " ", count: max(n, 0))
        case .string(let s)?: indentUnit = s
        default: indentUnit = nil
        }
        var itemSeparator = indentUnit == nil ? ", " : ","
        var keySeparator = ": "
        if case .array(let pair)? = separators, pair.count == 2 {
            itemSeparator = pair[0].text
            keySeparator = pair[1].text
        }
        var writer = Writer(indentUnit: indentUnit, itemSeparator: itemSeparator, keySeparator: keySeparator,
                            sortKeys: sortKeys, ensureASCII: ensureASCII, namespaces: namespaces)
        try writer.write(value, depth: 0)
        return writer.out
    }

    private struct Writer {
        let indentUnit: String?
        let itemSeparator: String
        let keySeparator: String
        let sortKeys: Bool
        let ensureASCII: Bool
        let namespaces: [JinjaObject]
        var out = ""

        mutating func write(_ value: JinjaValue, depth: Int) throws(ChatTemplateError) {
            switch value {
            case .undefined, .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d):
                out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : JinjaValue.pythonFloat(d)
            case .string(let s): writeString(s)
            case .array(let a):
                try writeContainer(open: "[", close: "]", count: a.count, depth: depth) { (w, i) throws(ChatTemplateError) in
                    try w.write(a[i], depth: depth + 1)
                }
            case .object(let o): try writeObject(o, depth: depth)
            case .namespace(let id): try writeObject(namespaces[id], depth: depth)
            case .callable: throw .runtime(message: "a function is not JSON serializable", line: 0)
            }
        }

        private mutating func writeObject(_ o: JinjaObject, depth: Int) throws(ChatTemplateError) {
            let keys = sortKeys ? o.keys.sorted() : o.keys
            try writeContainer(open: "{", close: "}", count: keys.count, depth: depth) { (w, i) throws(ChatTemplateError) in
                w.writeString(keys[i])
                w.out += w.keySeparator
                try w.write(o[keys[i]]!, depth: depth + 1)
            }
        }

        private mutating func writeContainer(open: String, close: String, count: Int, depth: Int,
                                             element: (inout Writer, Int) throws(ChatTemplateError) -> Void) throws(ChatTemplateError) {
            out += open
            guard count > 0 else {
                out += close
                return
            }
            for i in 0..<count {
                if i > 0 { out += itemSeparator }
                if let indentUnit { out += "\n" + String(repeating: indentUnit, count: depth + 1) }
                try element(&self, i)
            }
            if let indentUnit { out += "\n" + String(repeating: indentUnit, count: depth) }
            out += close
        }

        mutating func writeString(_ s: String) {
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
                default:
                    if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                        for unit in String(scalar).utf16 { out += "\\u" + hex4(unit) }
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            out += "\""
        }

        private func hex4(_ v: UInt16) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
    }
}

extension JinjaValue {
    /// Parses JSON text, keeping the order of object keys; numbers without a fraction or
    /// exponent become ints. Returns nil for invalid JSON.
    public init?(json: String) {
        var parser = JSONParser(bytes: Array(json.utf8))
        guard let value = parser.parseValue(), parser.atEnd else { return nil }
        self = value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var pos = 0

    var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return pos == bytes.count
        }
    }

    mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    mutating func parseValue() -> JinjaValue? {
        skipWhitespace()
        guard pos < bytes.count else { return nil }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return parseObject()
        case UInt8(ascii: "["): return parseArray()
        case UInt8(ascii: "\""): return parseString().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .none)
        default: return parseNumber()
        }
    }

    mutating func literal(_ word: String, _ value: JinjaValue) -> JinjaValue? {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { return nil }
        pos += w.count
        return value
    }

    mutating func parseObject() -> JinjaValue? {
        pos += 1
        var object = JinjaObject()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\""), let key = parseString() else { return nil }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { return nil }
            pos += 1
            guard let value = parseValue() else { return nil }
            object[key] = value
            skipWhitespace()
            guard pos < bytes.count else { return nil }
            pos += 1
            if bytes[pos - 1] == UInt8(ascii: "}") { return .object(object) }
            guard bytes[pos - 1] == UInt8(ascii: ",") else { return nil }
        }
    }

    mutating func parseArray() -> JinjaValue? {
        pos += 1
        var items: [JinjaValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(items)
        }
        while true {
            guard let value = parseValue() else { return nil }
            items.append(value)
            skipWhitespace()
            guard pos < bytes.count else { return nil }
            pos += 1
            if bytes[pos - 1] == UInt8(ascii: "]") { return .array(items) }
            guard bytes[pos - 1] == UInt8(ascii: ",") else { return nil }
        }
    }

    mutating func parseString() -> String? {
        pos += 1
        var out: [UInt8] = []
        while pos < bytes.count {
            let c = bytes[pos]
            pos += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                continue
            }
            guard pos < bytes.count else { return nil }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var unit = hex4() else { return nil }
                var scalar = UnicodeScalar(unit)
                if (0xD800..<0xDC00).contains(unit), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                   bytes[pos + 1] == UInt8(ascii: "u") {
                    pos += 2
                    guard let low = hex4() else { return nil }
                    unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    scalar = UnicodeScalar(unit)
                }
                out += Array(String(Character(scalar ?? "\u{FFFD}")).utf8)
            default: out.append(e)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16) else {
            return nil
        }
        pos += 4
        return v
    }

    mutating func parseNumber() -> JinjaValue? {
        let start = pos
        var isInteger = true
        while pos < bytes.count, "+-0123456789.eE".utf8.contains(bytes[pos]) {
            if "eE.".utf8.contains(bytes[pos]) { isInteger = false }
            pos += 1
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        return Double(text).map { .double($0) }
    }
}
