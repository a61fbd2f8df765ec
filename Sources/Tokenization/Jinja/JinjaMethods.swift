#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Python methods that chat templates call on strings and dicts (`content.strip()`,
/// `message.get('x')`, `text.split('</think>')`), and `loop.cycle`.
enum JinjaMethods {
    static let stringMethods: Set<String> = [
        "capitalize", "count", "endswith", "find", "join", "lower", "lstrip", "replace", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "title", "upper",
    ]
    static let dictMethods: Set<String> = ["get", "items", "keys", "values"]

    static func has(_ name: String, on value: JinjaValue) -> Bool {
        switch value {
        case .string: stringMethods.contains(name)
        case .object(let o): dictMethods.contains(name) || (name == "cycle" && o["index0"] != nil)
        default: false
        }
    }

    static func htmlEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// Global functions: `range`, `namespace`, `raise_exception`, `strftime_now`, `dict`.
enum JinjaGlobals {
    static let names: Set<String> = ["range", "namespace", "raise_exception", "strftime_now", "dict"]

    /// `strftime(format)` of the local time now.
    static func strftimeNow(_ format: String) -> String {
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [Int8](repeating: 0, count: 256)
        let n = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension JinjaRenderer {
    mutating func callGlobal(_ name: String, _ args: [JinjaValue], _ kwargs: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        switch name {
        case "raise_exception":
            throw .raised(args.first?.text ?? kwargs["message"]?.text ?? "raise_exception called")
        case "namespace":
            var object = JinjaObject()
            if case .object(let initial)? = args.first { object = initial }
            for key in kwargs.keys.sorted() { object[key] = kwargs[key] }
            namespaces.append(object)
            return .namespace(namespaces.count - 1)
        case "dict":
            var object = JinjaObject()
            if case .object(let initial)? = args.first { object = initial }
            for key in kwargs.keys.sorted() { object[key] = kwargs[key] }
            return .object(object)
        case "range":
            var bounds: [Int] = []
            for a in args {
                guard case .int(let i) = a else { throw error("range() needs integers, not \(a.typeName)") }
                bounds.append(i)
            }
            let (start, stop, step) = switch bounds.count {
            case 1: (0, bounds[0], 1)
            case 2: (bounds[0], bounds[1], 1)
            case 3: (bounds[0], bounds[1], bounds[2])
            default: throw error("range() takes 1 to 3 arguments")
            }
            guard step != 0 else { throw error("range() step must not be zero") }
            // In floating point: the integer span of hostile bounds can overflow.
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            let count = span <= 0 ? 0 : (span / abs(Double(step))).rounded(.up)
            try budget.checkList(count: count > Double(Int32.max) ? .max : Int(count), line: line)
            return .array(stride(from: start, to: stop, by: step).map { .int($0) })
        case "strftime_now":
            return .string(JinjaGlobals.strftimeNow(args.first?.text ?? "%Y-%m-%d"))
        default:
            throw .unsupported(feature: "function '\(name)'", line: line)
        }
    }

    func callMethod(_ name: String, on receiver: JinjaValue, _ args: [JinjaValue], _ kwargs: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        switch receiver {
        case .string(let s): return try stringMethod(name, s, args, kwargs)
        case .object(let o):
            switch name {
            case "get": return o[args.first?.text ?? ""] ?? (args.count > 1 ? args[1] : kwargs["default"] ?? .none)
            case "items": return .array(o.map { .array([.string($0.key), $0.value]) })
            case "keys": return .array(o.keys.map { .string($0) })
            case "values": return .array(o.map(\.value))
            case "cycle":
                guard !args.isEmpty, case .int(let i)? = o["index0"] else { throw error("cycle needs arguments") }
                return args[i % args.count]
            default: break
            }
        default: break
        }
        throw .unsupported(feature: "method '\(name)' of \(receiver.typeName)", line: line)
    }

    private func stringMethod(_ name: String, _ s: String, _ args: [JinjaValue], _ kwargs: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        func text(_ i: Int) -> String? {
            guard i < args.count, case .string(let t) = args[i] else { return nil }
            return t
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            let chars = text(0).map(Set.init)
            switch name {
            case "strip": return .string(chars.map { s.pythonStripped($0) } ?? s.trimmingWhitespace)
            case "lstrip": return .string(String(s.drop { chars?.contains($0) ?? $0.isWhitespace }))
            default: return .string(String(s.reversed().drop { chars?.contains($0) ?? $0.isWhitespace }.reversed()))
            }
        case "split", "rsplit":
            var maxSplit = -1
            if case .int(let m)? = args.count > 1 ? args[1] : kwargs["maxsplit"] { maxSplit = m }
            let parts = s.pythonSplit(text(0) ?? kwargs["sep"].flatMap { $0 == .none ? nil : $0.text }, maxSplit: maxSplit,
                                      fromRight: name == "rsplit")
            return .array(parts.map { .string($0) })
        case "splitlines": return .array(s.split(whereSeparator: \.isNewline).map { .string(String($0)) })
        case "startswith", "endswith":
            let candidates: [String]
            switch args.first {
            case .string(let p)?: candidates = [p]
            case .array(let a)?: candidates = a.map(\.text)
            default: throw error("\(name) needs a string or a tuple of strings")
            }
            return .bool(candidates.contains { name == "startswith" ? s.hasPrefix($0) : s.hasSuffix($0) })
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(s.pythonTitled)
        case "capitalize": return .string(s.pythonCapitalized)
        case "replace":
            guard let old = text(0), let new = text(1) else { throw error("replace needs two strings") }
            var count = -1
            if args.count > 2, case .int(let c) = args[2] { count = c }
            try budget.checkString(bytes: s.utf8.count &+ (s.utf8.count &+ 1) &* max(0, new.utf8.count - old.utf8.count), line: line)
            return .string(s.pythonReplacing(old, with: new, count: count))
        case "find":
            guard let needle = text(0) else { throw error("find needs a string") }
            guard let range = s.firstRange(of: needle) else { return .int(-1) }
            return .int(s.unicodeScalars.distance(from: s.startIndex, to: range.lowerBound))
        case "count":
            guard let needle = text(0), !needle.isEmpty else { return .int(s.unicodeScalars.count + 1) }
            return .int(s.pieces(separatedBy: needle).count - 1)
        case "join":
            guard let items = args.first?.iterationElements else { throw error("join needs an iterable") }
            let texts = items.map(\.text)
            try budget.checkString(bytes: texts.reduce(0) { $0 &+ $1.utf8.count } &+ s.utf8.count &* texts.count, line: line)
            return .string(texts.joined(separator: s))
        default:
            throw .unsupported(feature: "method '\(name)' of string", line: line)
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    func pythonStripped(_ chars: Set<Character>) -> String {
        String(drop { chars.contains($0) }.reversed().drop { chars.contains($0) }.reversed())
    }

    var pythonCapitalized: String {
        guard let first else { return self }
        return first.uppercased() + dropFirst().lowercased()
    }

    /// Python's `str.title()`: the first letter of every run of letters upper-cased, the rest lower.
    var pythonTitled: String {
        var out = ""
        var previousIsLetter = false
        for c in self {
            out += previousIsLetter ? c.lowercased() : c.uppercased()
            previousIsLetter = c.isLetter
        }
        return out
    }

    func pythonReplacing(_ old: String, with new: String, count: Int) -> String {
        guard count != 0 else { return self }
        guard !old.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        var done = 0
        while count < 0 || done < count, let r = rest.firstRange(of: old) {
            out += rest[..<r.lowerBound] + new
            rest = rest[r.upperBound...]
            done += 1
        }
        return out + rest
    }

    /// Python's `str.split(sep, maxsplit)` (and `rsplit`): no separator splits on runs of whitespace.
    func pythonSplit(_ separator: String?, maxSplit: Int, fromRight: Bool) -> [String] {
        guard let separator, !separator.isEmpty else {
            let words = split(whereSeparator: \.isWhitespace).map(String.init)
            guard maxSplit >= 0, words.count > maxSplit + 1 else { return words }
            if fromRight {
                let head = words.dropLast(maxSplit).joined(separator: " ")
                return [head] + words.suffix(maxSplit)
            }
            var parts = Array(words.prefix(maxSplit))
            var rest = self[...].drop(while: \.isWhitespace)
            for _ in 0..<maxSplit {
                rest = rest.drop { !$0.isWhitespace }.drop(while: \.isWhitespace)
            }
            parts.append(String(rest.reversed().drop(while: \.isWhitespace).reversed()))
            return parts
        }
        let all = pieces(separatedBy: separator)
        guard maxSplit >= 0, all.count > maxSplit + 1 else { return all }
        if fromRight {
            return [all.dropLast(maxSplit).joined(separator: separator)] + all.suffix(maxSplit)
        }
        return Array(all.prefix(maxSplit)) + [all.dropFirst(maxSplit).joined(separator: separator)]
    }

    /// Splits on every occurrence of `separator`, keeping empty pieces.
    func pieces(separatedBy separator: String) -> [String] {
        split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }
}
