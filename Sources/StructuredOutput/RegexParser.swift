/// Reads a regular expression (the ECMAScript subset that JSON Schema `pattern` and vLLM's
/// `structured_outputs.regex` use) into a ``GrammarExpr``.
///
/// **The pattern must match the whole output.** JSON Schema says a `pattern` matches when it is
/// found anywhere in the string, but constrained decoding treats it as the full value, as XGrammar
/// and llama.cpp do: `\d+` allows `"42"`, not `"x42y"`. So `^` at the very start and `$` at the
/// very end (of the pattern or of a top-level alternative) are accepted and change nothing.
///
/// Supported:
/// - literals, `.` (any character except the line terminators `\n`, `\r`, U+2028, U+2029)
/// - escapes `\d \D \w \W \s \S` (ECMAScript's ASCII digits and word characters and Unicode
///   white space), `\t \n \r \f \v \0`, `\cX`, `\xHH`, `\uHHHH` (surrogate pairs join),
///   `\u{H…}`, and any escaped punctuation such as `\. \* \/ \- \$`
/// - character classes with ranges, `^` negation and escapes (`[\d\s_-]`, `[^"\\]`); `[^]` is any
///   character; inside a class `\b` is backspace
/// - groups `( )`, `(?: )` and `(?<name> )` (all plain groups), alternation `|`
/// - quantifiers `* + ? {m} {m,} {m,n}` and `{,n}` (Python's `{0,n}`); lazy forms (`*?`, `{m,n}?`)
///   match the same strings, since a grammar has no preference between them
///
/// A `{` that does not start a quantifier is a literal, as ECMAScript's Annex B allows. Characters
/// are Unicode scalars (as with ECMAScript's `u` flag), never lone UTF-16 surrogates.
///
/// Anchors anywhere else, backreferences (`\1`, `\k<name>`), lookaround (`(?=`, `(?!`, `(?<=`,
/// `(?<!`), word boundaries (`\b`, `\B`), Unicode properties (`\p{…}`) and inline flags throw
/// ``GrammarError/regex(_:offset:)`` naming the feature; offsets are UTF-8 byte offsets into the
/// pattern.
public enum RegexParser {
    /// Parses `pattern` into one expression that matches exactly the strings the pattern matches
    /// in full.
    public static func parse(_ pattern: String) throws(GrammarError) -> GrammarExpr {
        var reader = RegexReader(Array(pattern.utf8))
        return try reader.pattern()
    }

    /// Parses `pattern` into a grammar whose one rule, `root`, is the whole pattern.
    public static func parseDefinition(_ pattern: String) throws(GrammarError) -> GrammarDefinition {
        GrammarDefinition(try parse(pattern))
    }
}

/// The recursive-descent reader behind ``RegexParser`` (one pass over the UTF-8 bytes).
private struct RegexReader {
    private let bytes: [UInt8]
    private var pos = 0
    /// Open groups around `pos` (bounded so a hostile pattern cannot exhaust the stack).
    private var depth = 0
    static let maxDepth = 256
    /// The offset of the last `^` read (to refuse one inside a repeated group).
    private var lastCaret: Int?

    /// ECMAScript's `\s`: white space and line terminators.
    static let space: [ClosedRange<UInt32>] = [
        0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
        0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
    ]
    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    /// What `.` does not match.
    static let lineTerminators: [ClosedRange<UInt32>] = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func pattern() throws(GrammarError) -> GrammarExpr {
        let (expr, _) = try disjunction(atStart: true)
        if pos < bytes.count {
            throw .regex("unmatched ')'", offset: pos)  // disjunction() stops only at ')' or the end
        }
        return expr
    }

    // MARK: - Structure

    /// `alternative ('|' alternative)*`, stopping before `)` or the end. Returns the offset of a
    /// `$` that must be the end of the match, if any alternative has one.
    private mutating func disjunction(atStart: Bool) throws(GrammarError) -> (GrammarExpr, dollar: Int?) {
        var (first, dollar) = try alternative(atStart: atStart)
        var options = [first]
        while peek == UInt8(ascii: "|") {
            pos += 1
            let (next, d) = try alternative(atStart: atStart)
            options.append(next)
            dollar = dollar ?? d
        }
        first = options.count == 1 ? options[0] : .choice(options)
        return (first, dollar)
    }

    private mutating func alternative(atStart: Bool) throws(GrammarError) -> (GrammarExpr, dollar: Int?) {
        var items: [GrammarExpr] = []
        var atStart = atStart
        var dollar: Int?
        while let c = peek, c != UInt8(ascii: "|"), c != UInt8(ascii: ")") {
            let at = pos
            if c == UInt8(ascii: "^") {
                guard atStart else {
                    throw .regex("'^' is only supported at the start of the pattern (the whole output is matched)",
                                 offset: at)
                }
                pos += 1
                try refuseQuantifier(on: "'^'")
                lastCaret = at
                continue
            }
            if c == UInt8(ascii: "$") {
                pos += 1
                try refuseQuantifier(on: "'$'")
                dollar = dollar ?? at
                continue
            }
            if let dollar {
                throw .regex("'$' is only supported at the end of the pattern (the whole output is matched)",
                             offset: dollar)
            }
            let caretBefore = lastCaret
            let (parsed, innerDollar) = try self.atom(atStart: atStart)
            var atom = parsed
            atStart = false
            let quantifierAt = pos
            if let (min, max) = try quantifier() {
                if let innerDollar {
                    throw .regex("'$' inside a repeated group is not supported", offset: innerDollar)
                }
                if let lastCaret, lastCaret != caretBefore {
                    throw .regex("'^' inside a repeated group is not supported", offset: lastCaret)
                }
                atom = Self.repeating(atom, min: min, max: max)
                if let c = peek, c == UInt8(ascii: "*") || c == UInt8(ascii: "+") || c == UInt8(ascii: "?")
                    || (c == UInt8(ascii: "{") && lookingAtQuantifier()) {
                    throw .regex("nothing to repeat: a quantifier follows the quantifier at offset \(quantifierAt)",
                                 offset: pos)
                }
            }
            dollar = innerDollar
            items.append(atom)
        }
        return (Self.sequence(items), dollar)
    }

    private mutating func atom(atStart: Bool) throws(GrammarError) -> (GrammarExpr, dollar: Int?) {
        let at = pos
        let c = bytes[pos]
        switch c {
        case UInt8(ascii: "("):
            guard depth < Self.maxDepth else { throw .regex("groups nest more than \(Self.maxDepth) deep", offset: at) }
            pos += 1
            try groupPrefix(open: at)
            depth += 1
            let (inner, dollar) = try disjunction(atStart: atStart)
            depth -= 1
            guard peek == UInt8(ascii: ")") else {
                throw .regex("expected ')' to close the group opened at offset \(at)", offset: pos)
            }
            pos += 1
            return (inner, dollar)
        case UInt8(ascii: "["):
            return (try characterClass(), nil)
        case UInt8(ascii: "."):
            pos += 1
            return (.characters(Self.lineTerminators, negated: true), nil)
        case UInt8(ascii: "\\"):
            switch try escape(inClass: false) {
            case .scalar(let s): return (Self.literal(s), nil)
            case .set(let ranges, let negated): return (.characters(ranges, negated: negated), nil)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
            throw .regex("nothing to repeat: '\(Character(Unicode.Scalar(c)))' follows no item", offset: at)
        case UInt8(ascii: "{") where lookingAtQuantifier():
            throw .regex("nothing to repeat: '{' quantifier follows no item", offset: at)
        default:
            return (Self.literal(decodeScalar()), nil)
        }
    }

    /// After `(`: accepts `?:` and `?<name>`, refuses lookaround and other `(?` forms.
    private mutating func groupPrefix(open: Int) throws(GrammarError) {
        guard peek == UInt8(ascii: "?") else { return }
        let next = pos + 1 < bytes.count ? bytes[pos + 1] : 0
        let after = pos + 2 < bytes.count ? bytes[pos + 2] : 0
        switch next {
        case UInt8(ascii: ":"):
            pos += 2
        case UInt8(ascii: "="), UInt8(ascii: "!"):
            throw .regex("lookahead '(?\(Character(Unicode.Scalar(next)))' is not supported", offset: open)
        case UInt8(ascii: "<") where after == UInt8(ascii: "=") || after == UInt8(ascii: "!"):
            throw .regex("lookbehind '(?<\(Character(Unicode.Scalar(after)))' is not supported", offset: open)
        case UInt8(ascii: "<"):
            pos += 2
            let nameStart = pos
            while let c = peek, c != UInt8(ascii: ">") {
                guard Self.isWordByte(c) || c == UInt8(ascii: "$") || c >= 0x80 else {
                    throw .regex("invalid character in a group name", offset: pos)
                }
                pos += 1
            }
            guard peek == UInt8(ascii: ">"), pos > nameStart else {
                throw .regex("expected a group name and '>' after '(?<'", offset: pos)
            }
            pos += 1
        default:
            throw .regex("group syntax '(?' is not supported here (only '(?:' and '(?<name>' are)", offset: open)
        }
    }

    // MARK: - Quantifiers

    /// `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}`, `{,n}`, each optionally lazy (nil when none follows).
    private mutating func quantifier() throws(GrammarError) -> (Int, Int?)? {
        guard let c = peek else { return nil }
        let at = pos
        var bounds: (Int, Int?)
        switch c {
        case UInt8(ascii: "*"): pos += 1; bounds = (0, nil)
        case UInt8(ascii: "+"): pos += 1; bounds = (1, nil)
        case UInt8(ascii: "?"): pos += 1; bounds = (0, 1)
        case UInt8(ascii: "{") where lookingAtQuantifier():
            pos += 1
            let min = try integer() ?? 0
            var max: Int? = min
            if peek == UInt8(ascii: ",") {
                pos += 1
                max = try integer()
            }
            pos += 1  // '}', checked by lookingAtQuantifier()
            if let max, max < min {
                throw .regex("quantifier {\(min),\(max)} has its maximum below its minimum", offset: at)
            }
            bounds = (min, max)
        default:
            return nil
        }
        if peek == UInt8(ascii: "?") { pos += 1 }  // lazy: the same strings
        return bounds
    }

    /// Whether `{` at `pos` starts `{m}`, `{m,}`, `{m,n}` or `{,n}` (otherwise it is a literal).
    private func lookingAtQuantifier() -> Bool {
        var i = pos + 1
        func digits() -> Int {
            let start = i
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            return i - start
        }
        let low = digits()
        if i < bytes.count, bytes[i] == UInt8(ascii: ",") {
            i += 1
            let high = digits()
            guard low > 0 || high > 0 else { return false }
        } else {
            guard low > 0 else { return false }
        }
        return i < bytes.count && bytes[i] == UInt8(ascii: "}")
    }

    private mutating func integer() throws(GrammarError) -> Int? {
        let start = pos
        var value = 0
        while let c = peek, Self.isDigit(c) {
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            guard value <= 1_000_000 else { throw .regex("quantifier bound is too large", offset: start) }
            pos += 1
        }
        return pos > start ? value : nil
    }

    private mutating func refuseQuantifier(on what: String) throws(GrammarError) {
        if let c = peek, c == UInt8(ascii: "*") || c == UInt8(ascii: "+") || c == UInt8(ascii: "?")
            || (c == UInt8(ascii: "{") && lookingAtQuantifier()) {
            throw .regex("nothing to repeat: a quantifier follows the anchor \(what)", offset: pos)
        }
    }

    // MARK: - Classes and escapes

    private enum Escaped {
        case scalar(UInt32)
        case set([ClosedRange<UInt32>], negated: Bool)
    }

    private mutating func characterClass() throws(GrammarError) -> GrammarExpr {
        let open = pos
        pos += 1
        var negated = false
        if peek == UInt8(ascii: "^") {
            negated = true
            pos += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let c = peek else { throw .regex("unterminated character class", offset: open) }
            if c == UInt8(ascii: "]") { pos += 1; break }
            let lowAt = pos
            let low = try classAtom()
            guard peek == UInt8(ascii: "-"), pos + 1 < bytes.count, bytes[pos + 1] != UInt8(ascii: "]") else {
                Self.add(low, to: &ranges)
                continue
            }
            pos += 1
            let high = try classAtom()
            guard case .scalar(let lo) = low, case .scalar(let hi) = high else {
                // A class escape at either end makes '-' a literal (ECMAScript Annex B).
                Self.add(low, to: &ranges)
                ranges.append(0x2D...0x2D)
                Self.add(high, to: &ranges)
                continue
            }
            guard lo <= hi else { throw .regex("character class range is out of order", offset: lowAt) }
            ranges.append(lo...hi)
        }
        if ranges.isEmpty && !negated {
            throw .regex("the empty character class '[]' matches nothing", offset: open)
        }
        return .characters(ranges, negated: negated)
    }

    private mutating func classAtom() throws(GrammarError) -> Escaped {
        if peek == UInt8(ascii: "\\") { return try escape(inClass: true) }
        return .scalar(decodeScalar())
    }

    /// One escape starting at the `\` at `pos`.
    private mutating func escape(inClass: Bool) throws(GrammarError) -> Escaped {
        let at = pos
        pos += 1
        guard let c = peek else { throw .regex("'\\' at the end of the pattern escapes nothing", offset: at) }
        pos += 1
        switch c {
        case UInt8(ascii: "d"): return .set(Self.digit, negated: false)
        case UInt8(ascii: "D"): return .set(Self.digit, negated: true)
        case UInt8(ascii: "w"): return .set(Self.word, negated: false)
        case UInt8(ascii: "W"): return .set(Self.word, negated: true)
        case UInt8(ascii: "s"): return .set(Self.space, negated: false)
        case UInt8(ascii: "S"): return .set(Self.space, negated: true)
        case UInt8(ascii: "t"): return .scalar(0x09)
        case UInt8(ascii: "n"): return .scalar(0x0A)
        case UInt8(ascii: "v"): return .scalar(0x0B)
        case UInt8(ascii: "f"): return .scalar(0x0C)
        case UInt8(ascii: "r"): return .scalar(0x0D)
        case UInt8(ascii: "0"):
            if let d = peek, Self.isDigit(d) {
                throw .regex("octal escapes are not supported (use \\xHH)", offset: at)
            }
            return .scalar(0)
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            throw .regex("backreferences ('\\\(Character(Unicode.Scalar(c)))') are not supported", offset: at)
        case UInt8(ascii: "k"):
            throw .regex("named backreferences ('\\k<name>') are not supported", offset: at)
        case UInt8(ascii: "b"):
            if inClass { return .scalar(0x08) }
            throw .regex("word boundaries ('\\b') are not supported", offset: at)
        case UInt8(ascii: "B"):
            throw .regex("word boundaries ('\\B') are not supported", offset: at)
        case UInt8(ascii: "p"), UInt8(ascii: "P"):
            throw .regex("Unicode property escapes ('\\\(Character(Unicode.Scalar(c))){...}') are not supported",
                         offset: at)
        case UInt8(ascii: "c"):
            guard let letter = peek, Self.isLetter(letter) else {
                throw .regex("expected a letter after '\\c'", offset: pos)
            }
            pos += 1
            return .scalar(UInt32(letter) % 32)
        case UInt8(ascii: "x"):
            return .scalar(try hexDigits(2, escapeAt: at))
        case UInt8(ascii: "u"):
            return .scalar(try unicodeEscape(at: at))
        default:
            if Self.isLetter(c) || Self.isDigit(c) {
                throw .regex("unknown escape '\\\(Character(Unicode.Scalar(c)))'", offset: at)
            }
            pos -= 1
            return .scalar(decodeScalar())  // escaped punctuation stands for itself
        }
    }

    /// After `\u`: `HHHH` (a surrogate pair written as two escapes is joined) or `{H…}`.
    private mutating func unicodeEscape(at: Int) throws(GrammarError) -> UInt32 {
        if peek == UInt8(ascii: "{") {
            pos += 1
            var value: UInt32 = 0
            let start = pos
            while let c = peek, let d = TextBytes.hexValue(c) {
                value = value << 4 | d
                guard value <= 0x10FFFF else { throw .regex("'\\u{...}' is above U+10FFFF", offset: at) }
                pos += 1
            }
            guard pos > start, peek == UInt8(ascii: "}") else {
                throw .regex("expected hex digits and '}' in '\\u{...}'", offset: pos)
            }
            pos += 1
            return try scalar(value, at: at)
        }
        let value = try hexDigits(4, escapeAt: at)
        if (0xD800...0xDBFF).contains(value), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
           bytes[pos + 1] == UInt8(ascii: "u") {
            let save = pos
            pos += 2
            if let low = try? hexDigits(4, escapeAt: save), (0xDC00...0xDFFF).contains(low) {
                return 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            pos = save
        }
        return try scalar(value, at: at)
    }

    private func scalar(_ value: UInt32, at: Int) throws(GrammarError) -> UInt32 {
        guard Unicode.Scalar(value) != nil else {
            throw .regex("a lone surrogate U+\(String(value, radix: 16, uppercase: true)) is not a character", offset: at)
        }
        return value
    }

    private mutating func hexDigits(_ count: Int, escapeAt: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let c = peek, let d = TextBytes.hexValue(c) else {
                throw .regex("expected \(count) hex digits in the escape", offset: pos)
            }
            value = value << 4 | d
            pos += 1
        }
        return value
    }

    // MARK: - Building expressions

    private static func add(_ item: Escaped, to ranges: inout [ClosedRange<UInt32>]) {
        switch item {
        case .scalar(let s): ranges.append(s...s)
        case .set(let set, false): ranges.append(contentsOf: set)
        case .set(let set, true): ranges.append(contentsOf: complement(set))
        }
    }

    /// The scalars not in `ranges` (sorted, disjoint).
    private static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = max(next, r.upperBound + 1)
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    private static func literal(_ scalar: UInt32) -> GrammarExpr {
        .literal(Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
    }

    /// Items in order, adjacent literals joined.
    private static func sequence(_ items: [GrammarExpr]) -> GrammarExpr {
        var out: [GrammarExpr] = []
        for item in items {
            if case .literal(let b) = item, case .literal(let a)? = out.last {
                out[out.count - 1] = .literal(a + b)
            } else {
                out.append(item)
            }
        }
        return out.count == 1 ? out[0] : .sequence(out)
    }

    /// `body{min,max}`, rewritten so an unbounded repetition never repeats something that can
    /// match the empty string (`(a?)*` is `a*`): the grammar automaton cannot run such a loop.
    static func repeating(_ body: GrammarExpr, min: Int, max: Int?) -> GrammarExpr {
        if min == 1 && max == 1 { return body }
        if max == 0 { return .empty }
        if max == nil, nullable(body) {
            // body{m,} with ε in body is (body minus ε)*.
            guard let nonEmpty = withoutEmpty(body) else { return .empty }
            return .repeat(nonEmpty, min: 0, max: nil)
        }
        if case .repeat(let inner, let a, nil) = body, max == nil, min >= 1 {
            return .repeat(inner, min: a * min, max: nil)  // (e{a,}){m,} is e{am,}
        }
        return .repeat(body, min: min, max: max)
    }

    private static func nullable(_ expr: GrammarExpr) -> Bool {
        switch expr {
        case .literal(let b): b.isEmpty
        case .characters, .bytes, .reference: false
        case .sequence(let parts): parts.allSatisfy(nullable)
        case .choice(let options): options.contains(where: nullable)
        case .repeat(let e, let min, _): min == 0 || nullable(e)
        }
    }

    /// An expression for the non-empty strings of `expr` (nil when it matches only the empty string).
    private static func withoutEmpty(_ expr: GrammarExpr) -> GrammarExpr? {
        guard nullable(expr) else { return expr }
        switch expr {
        case .literal, .characters, .bytes, .reference:
            return nil
        case .sequence(let parts):
            // All parts are nullable: either the first part is non-empty, or it is empty and the rest is not.
            guard let head = parts.first else { return nil }
            let rest = Array(parts.dropFirst())
            var options: [GrammarExpr] = []
            if let h = withoutEmpty(head) { options.append(sequence([h] + rest)) }
            if let r = withoutEmpty(sequence(rest)) { options.append(r) }
            return options.isEmpty ? nil : options.count == 1 ? options[0] : .choice(options)
        case .choice(let options):
            let kept = options.compactMap(withoutEmpty)
            return kept.isEmpty ? nil : kept.count == 1 ? kept[0] : .choice(kept)
        case .repeat(let e, _, let max):
            guard max != 0, let inner = withoutEmpty(e) else { return nil }
            return inner == e && max == 1 ? inner : .repeat(inner, min: 1, max: max)
        }
    }

    // MARK: - Lexical helpers

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    /// Decodes the UTF-8 scalar at `pos` and steps over it.
    private mutating func decodeScalar() -> UInt32 {
        let (value, next) = TextBytes.scalar(in: bytes, at: pos)
        pos = next
        return value
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func isLetter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }

    private static func isWordByte(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == UInt8(ascii: "_") }

}
