/// The string formats the JSON Schema converter enforces, as grammars of the string's
/// characters (without quotes). Each allows a plain subset of its standard's forms, so every
/// string it allows is valid: RFC 3339 dates and times with upper-case `T` and `Z`, no leap
/// second and no 29 February; RFC 4122 UUIDs; dotted-quad IPv4 without leading zeros;
/// `local@domain` e-mail with dot-atom parts; `scheme://host[:port]/path?query#fragment` URIs;
/// and RFC 3339 (appendix A) durations such as `P1Y2M`, `PT30M`, `P2W`.
enum StringFormatGrammar: String, CaseIterable {
    case date, time, dateTime = "date-time", duration, uuid, email, ipv4, uri

    init?(name: String) {
        self.init(rawValue: name)
    }

    /// The shortest and longest string the grammar allows (nil: no limit).
    var lengths: (lowerBound: Int, upperBound: Int?) {
        switch self {
        case .date: (10, 10)
        case .time: (9, 24)
        case .dateTime: (20, 35)
        case .duration: (3, nil)
        case .uuid: (36, 36)
        case .ipv4: (7, 15)
        case .email: (5, nil)
        case .uri: (5, nil)
        }
    }

    private static func chars(_ s: String) -> GrammarExpr {
        .characters(s.unicodeScalars.map { $0.value...$0.value }, negated: false)
    }

    private static func range(_ a: Character, _ b: Character) -> GrammarExpr {
        .characters([a.unicodeScalars.first!.value...b.unicodeScalars.first!.value], negated: false)
    }

    private static let digit = range("0", "9")
    private static let hex = GrammarExpr.characters([0x30...0x39, 0x41...0x46, 0x61...0x66], negated: false)
    private static let alnum = GrammarExpr.characters([0x30...0x39, 0x41...0x5A, 0x61...0x7A], negated: false)

    /// `YYYY-MM-DD` with a year from 0001, and days that exist in their month (29 February
    /// left out, as it depends on the year).
    private static var dateExpr: GrammarExpr {
        let year = GrammarExpr.choice([
            .sequence([range("1", "9"), digit, digit, digit]),
            .sequence([.text("0"), range("1", "9"), digit, digit]),
            .sequence([.text("00"), range("1", "9"), digit]),
            .sequence([.text("000"), range("1", "9")]),
        ])
        let upTo28 = GrammarExpr.choice([.sequence([.text("0"), range("1", "9")]), .sequence([.text("1"), digit]), .sequence([.text("2"), range("0", "8")])])
        let upTo30 = GrammarExpr.choice([upTo28, .text("29"), .text("30")])
        let upTo31 = GrammarExpr.choice([upTo30, .text("31")])
        let monthDay = GrammarExpr.choice([
            .sequence([.text("02-"), upTo28]),
            .sequence([.choice([.text("04"), .text("06"), .text("09"), .text("11")]), .text("-"), upTo30]),
            .sequence([.choice(["01", "03", "05", "07", "08", "10", "12"].map { .text($0) }), .text("-"), upTo31]),
        ])
        return .sequence([year, .text("-"), monthDay])
    }

    /// `HH:MM:SS[.fraction](Z|±HH:MM)`, the fraction 1 to 9 digits.
    private static var timeExpr: GrammarExpr {
        let hour = GrammarExpr.choice([.sequence([range("0", "1"), digit]), .sequence([.text("2"), range("0", "3")])])
        let sixty = GrammarExpr.sequence([range("0", "5"), digit])
        let fraction = GrammarExpr.optional(.sequence([.text("."), .repeat(digit, min: 1, max: 9)]))
        let offset = GrammarExpr.choice([.text("Z"), .sequence([chars("+-"), hour, .text(":"), sixty])])
        return .sequence([hour, .text(":"), sixty, .text(":"), sixty, fraction, offset])
    }

    var expr: GrammarExpr {
        switch self {
        case .date: return Self.dateExpr
        case .time: return Self.timeExpr
        case .dateTime: return .sequence([Self.dateExpr, .text("T"), Self.timeExpr])
        case .duration:
            func unit(_ u: String) -> GrammarExpr { .sequence([.plus(Self.digit), .text(u)]) }
            let day = unit("D")
            let month = GrammarExpr.sequence([unit("M"), .optional(day)])
            let date = GrammarExpr.choice([day, month, .sequence([unit("Y"), .optional(month)])])
            let second = unit("S")
            let minute = GrammarExpr.sequence([unit("M"), .optional(second)])
            let time = GrammarExpr.sequence([.text("T"), .choice([.sequence([unit("H"), .optional(minute)]), minute, second])])
            return .sequence([.text("P"), .choice([.sequence([date, .optional(time)]), time, unit("W")])])
        case .uuid:
            let groups = [8, 4, 4, 4, 12].map { GrammarExpr.repeat(Self.hex, min: $0, max: $0) }
            return .sequence([groups[0], .text("-"), groups[1], .text("-"), groups[2], .text("-"), groups[3], .text("-"), groups[4]])
        case .ipv4:
            let octet = GrammarExpr.choice([
                .sequence([.text("25"), Self.range("0", "5")]),
                .sequence([.text("2"), Self.range("0", "4"), Self.digit]),
                .sequence([.text("1"), Self.digit, Self.digit]),
                .sequence([Self.range("1", "9"), Self.digit]),
                Self.digit,
            ])
            return .sequence([octet, .text("."), octet, .text("."), octet, .text("."), octet])
        case .email:
            let atom = GrammarExpr.plus(.choice([Self.alnum, Self.chars("!#$%&'*+/=?^_`{|}~-")]))
            let local = GrammarExpr.sequence([atom, .star(.sequence([.text("."), atom]))])
            return .sequence([local, .text("@"), Self.hostname(minLabels: 2)])
        case .uri:
            let scheme = GrammarExpr.sequence([Self.range("a", "z"), .star(.choice([Self.range("a", "z"), Self.digit, Self.chars("+.-")]))])
            let pctEncoded = GrammarExpr.sequence([.text("%"), Self.hex, Self.hex])
            let pchar = GrammarExpr.choice([Self.alnum, Self.chars("-._~!$&'()*+,;=:@"), pctEncoded])
            let path = GrammarExpr.star(.sequence([.text("/"), .star(pchar)]))
            let query = GrammarExpr.optional(.sequence([.text("?"), .star(.choice([pchar, Self.chars("/?")]))]))
            let fragment = GrammarExpr.optional(.sequence([.text("#"), .star(.choice([pchar, Self.chars("/?")]))]))
            let port = GrammarExpr.optional(.sequence([.text(":"), .star(Self.digit)]))
            return .sequence([scheme, .text("://"), Self.hostname(minLabels: 1), port, path, query, fragment])
        }
    }

    /// Dot-separated labels of letters, digits and inner hyphens.
    private static func hostname(minLabels: Int) -> GrammarExpr {
        let word = GrammarExpr.plus(alnum)
        let label = GrammarExpr.sequence([word, .star(.sequence([.plus(.text("-")), word]))])
        return .sequence([label, .repeat(.sequence([.text("."), label]), min: minLabels - 1, max: nil)])
    }
}
