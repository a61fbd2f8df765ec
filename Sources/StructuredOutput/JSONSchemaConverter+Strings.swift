/// Strings: `minLength`/`maxLength` (in Unicode scalars, an escape counting as the one
/// scalar it stands for), `pattern` (through ``RegexParser``, matching the whole string) and
/// `format` (see ``StringFormatGrammar``).
extension JSONSchemaGrammarBuilder {
    func string(_ schema: JSONValue, hint: String) throws(GrammarError) -> GrammarExpr {
        let minLength = try count(schema, "minLength") ?? 0
        let maxLength = try count(schema, "maxLength")
        if let maxLength, minLength > maxLength {
            throw .unsupportedSchema(keyword: "minLength", reason: "no string is at least \(minLength) and at most \(maxLength) long")
        }
        let bounded = minLength > 0 || maxLength != nil
        let quote = GrammarExpr.text("\"")

        if let pattern = schema["pattern"] {
            guard case .string(let source) = pattern else { throw .invalidSchema("pattern must be a string") }
            if schema["format"] != nil {
                throw .unsupportedSchema(keyword: "format", reason: "format together with pattern is not supported")
            }
            if bounded {
                throw .unsupportedSchema(keyword: maxLength != nil ? "maxLength" : "minLength",
                                         reason: "a length limit together with pattern is not supported")
            }
            let regex: GrammarExpr
            do {
                regex = try RegexParser.parse(source)
            } catch {
                throw .unsupportedSchema(keyword: "pattern", reason: "\(error)")
            }
            return .sequence([quote, try Self.jsonStringContent(regex), quote])
        }

        if let format = schema["format"] {
            guard case .string(let name) = format else { throw .invalidSchema("format must be a string") }
            guard let known = StringFormatGrammar(name: name) else {
                throw .unsupportedSchema(keyword: "format", reason: "format '\(name)' is not supported")
            }
            let lengths = known.lengths
            if minLength > lengths.lowerBound || (maxLength.map { $0 < (lengths.upperBound ?? Int.max) } ?? false) {
                throw .unsupportedSchema(keyword: maxLength != nil ? "maxLength" : "minLength",
                                         reason: "a length limit that cuts into format '\(name)' is not supported")
            }
            let ruleName = "json_format_\(known.rawValue)"
            if !contains(rule: ruleName) {
                reserve(ruleName)
                define(reserved: ruleName, .sequence([quote, known.expr, quote]))
            }
            return .reference(ruleName)
        }

        guard bounded else { return primitive(.string) }
        return .sequence([quote, .repeat(primitive(.char), min: minLength, max: maxLength), quote])
    }

    /// Rewrites a grammar of raw characters (a regex) into the grammar of the same strings as
    /// they appear inside a JSON string literal: `"`, `\` and control characters become escapes.
    static func jsonStringContent(_ expr: GrammarExpr) throws(GrammarError) -> GrammarExpr {
        switch expr {
        case .literal(let bytes):
            var parts: [GrammarExpr] = []
            var run: [UInt8] = []
            for b in bytes {
                if b < 0x20 || b == 0x22 || b == 0x5C {
                    if !run.isEmpty { parts.append(.literal(run)); run = [] }
                    parts.append(escapes(for: [UInt32(b)...UInt32(b)]))
                } else {
                    run.append(b)
                }
            }
            if !run.isEmpty { parts.append(.literal(run)) }
            return parts.count == 1 ? parts[0] : .sequence(parts)
        case .characters(let ranges, let negated):
            let all = UTF8Ranges.normalize(ranges, negated: negated)
            let special: [ClosedRange<UInt32>] = [0x00...0x1F, 0x22...0x22, 0x5C...0x5C]
            let escaped = intersect(all, special)
            let plain = intersect(all, UTF8Ranges.normalize(special, negated: true))
            var options: [GrammarExpr] = []
            if !plain.isEmpty { options.append(.characters(plain, negated: false)) }
            if !escaped.isEmpty { options.append(escapes(for: escaped)) }
            guard !options.isEmpty else { return .characters([], negated: false) }
            return options.count == 1 ? options[0] : .choice(options)
        case .bytes(let set):
            for b in [UInt8](0...0x1F) + [0x22, 0x5C] where set.contains(b) {
                throw .unsupportedSchema(keyword: "pattern", reason: "a byte class that includes characters JSON must escape")
            }
            return expr
        case .sequence(let parts):
            var out: [GrammarExpr] = []
            for p in parts { out.append(try jsonStringContent(p)) }
            return .sequence(out)
        case .choice(let parts):
            var out: [GrammarExpr] = []
            for p in parts { out.append(try jsonStringContent(p)) }
            return .choice(out)
        case .repeat(let body, let min, let max):
            return .repeat(try jsonStringContent(body), min: min, max: max)
        case .reference:
            throw .unsupportedSchema(keyword: "pattern", reason: "the regex uses rule references")
        }
    }

    /// The JSON escapes of the characters in `ranges` (all of them `"`, `\` or controls):
    /// `\"`, `\\`, the short forms `\b \f \n \r \t`, and `\u00XX` for every control character.
    private static func escapes(for ranges: [ClosedRange<UInt32>]) -> GrammarExpr {
        var options: [GrammarExpr] = []
        let members = ranges.flatMap { Array($0) }
        let short: [UInt32: String] = [0x22: "\\\"", 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"]
        for m in members { if let s = short[m] { options.append(.text(s)) } }
        for high in [UInt32(0), 1] {
            let lows = members.filter { $0 < 0x20 && $0 >> 4 == high }.map { $0 & 0xF }
            guard !lows.isEmpty else { continue }
            var digits: [ClosedRange<UInt32>] = []
            for low in lows {
                let lower = low < 10 ? 0x30 + low : 0x61 + low - 10
                digits.append(lower...lower)
                if low >= 10 { digits.append((0x41 + low - 10)...(0x41 + low - 10)) }
            }
            options.append(.sequence([.text("\\u00\(high)"), .characters(digits, negated: false)]))
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    private static func intersect(_ a: [ClosedRange<UInt32>], _ b: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for x in a {
            for y in b where x.overlaps(y) {
                out.append(max(x.lowerBound, y.lowerBound)...min(x.upperBound, y.upperBound))
            }
        }
        return out
    }
}
