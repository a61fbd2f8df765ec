/// The rules every JSON grammar shares: whitespace, strings, numbers and any JSON value.
/// Each is defined once per grammar, on first use, so schemas that use `string` in fifty
/// places compile one string rule (the token-mask cache is per grammar position).
enum Primitive: String, Hashable {
    case ws, value, object, array, member, string, char, escape, number, integer, boolean, null
}

extension JSONSchemaGrammarBuilder {
    /// A reference to the shared rule, defining it (and what it uses) the first time.
    func primitive(_ p: Primitive) -> GrammarExpr {
        let name = "json_\(p.rawValue)"  // "_" never occurs in names from uniqueName(_:)
        if !contains(rule: name) {
            reserve(name)
            define(reserved: name, body(of: p))
        }
        return .reference(name)
    }

    /// Whitespace between two tokens (empty in compact mode, so no rule is needed).
    var ws: GrammarExpr {
        if case .compact = options.whitespace { return .empty }
        return primitive(.ws)
    }

    /// `ws "," ws`, between members and items.
    var separator: GrammarExpr { .sequence([ws, .text(","), ws]) }

    /// `ws ":" ws`, between a key and its value.
    var colon: GrammarExpr { .sequence([ws, .text(":"), ws]) }

    static let digit = GrammarExpr.characters([0x30...0x39], negated: false)
    static let nonZeroDigit = GrammarExpr.characters([0x31...0x39], negated: false)
    static let hexDigit = GrammarExpr.characters([0x30...0x39, 0x41...0x46, 0x61...0x66], negated: false)

    private func body(of p: Primitive) -> GrammarExpr {
        switch p {
        case .ws:
            guard case .bounded(let maxIndent) = options.whitespace else { return .empty }
            let indent = GrammarExpr.characters([0x20...0x20, 0x09...0x09], negated: false)
            return .choice([.empty, .text(" "), .sequence([.text("\n"), .repeat(indent, min: 0, max: max(0, maxIndent))])])
        case .value:
            return .choice([primitive(.object), primitive(.array), primitive(.string), primitive(.number),
                            .text("true"), .text("false"), .text("null")])
        case .object:
            let more = GrammarExpr.star(.sequence([separator, primitive(.member)]))
            return .sequence([.text("{"), ws, .optional(.sequence([primitive(.member), more, ws])), .text("}")])
        case .member:
            return .sequence([primitive(.string), colon, primitive(.value)])
        case .array:
            let more = GrammarExpr.star(.sequence([separator, primitive(.value)]))
            return .sequence([.text("["), ws, .optional(.sequence([primitive(.value), more, ws])), .text("]")])
        case .string:
            return .sequence([.text("\""), .star(primitive(.char)), .text("\"")])
        case .char:
            // One scalar of a JSON string: unescaped (not '"', '\' or a control character) or escaped.
            let plain = GrammarExpr.characters([0x00...0x1F, 0x22...0x22, 0x5C...0x5C], negated: true)
            return .choice([plain, primitive(.escape)])
        case .escape:
            // A backslash escape; \u escapes name a scalar (surrogates only as a high-low pair).
            let hex = Self.hexDigit
            let notD = GrammarExpr.characters([0x30...0x39, 0x41...0x43, 0x45...0x46, 0x61...0x63, 0x65...0x66], negated: false)
            let d = GrammarExpr.characters([0x44...0x44, 0x64...0x64], negated: false)
            let bmp = GrammarExpr.choice([
                .sequence([notD, hex, hex, hex]),
                .sequence([d, .characters([0x30...0x37], negated: false), hex, hex]),
            ])
            let pair = GrammarExpr.sequence([
                d, .characters([0x38...0x39, 0x41...0x42, 0x61...0x62], negated: false), hex, hex,
                .text("\\u"), d, .characters([0x43...0x46, 0x63...0x66], negated: false), hex, hex,
            ])
            let simple = GrammarExpr.characters(Array("\"\\/bfnrt".unicodeScalars).map { $0.value...$0.value }, negated: false)
            return .sequence([.text("\\"), .choice([simple, .sequence([.text("u"), .choice([bmp, pair])])])])
        case .number:
            // The exponent has at most two digits, so a number never overflows a Double
            // (1e999 is JSON, but most parsers, this one included, refuse it).
            let fraction = GrammarExpr.optional(.sequence([.text("."), .plus(Self.digit)]))
            let exponent = GrammarExpr.optional(.sequence([
                .characters([0x45...0x45, 0x65...0x65], negated: false),
                .optional(.characters([0x2B...0x2B, 0x2D...0x2D], negated: false)), .repeat(Self.digit, min: 1, max: 2),
            ]))
            return .sequence([.optional(.text("-")), Self.unsignedInteger, fraction, exponent])
        case .integer:
            return .choice([.text("0"), .sequence([.optional(.text("-")), Self.nonZeroDigit, .star(Self.digit)])])
        case .boolean:
            return .choice([.text("true"), .text("false")])
        case .null:
            return .text("null")
        }
    }

    /// `0 | [1-9][0-9]*`.
    static let unsignedInteger = GrammarExpr.choice([.text("0"), .sequence([nonZeroDigit, .star(digit)])])
}
