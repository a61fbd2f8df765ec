/// Grammars of the decimal numbers inside a range, exactly (in the manner of llama.cpp's
/// `_generate_min_max_int`, built here from fixed-width digit ranges).
///
/// Integers are written canonically: `0`, `7`, `-12`; no leading zeros, no `-0`.
enum IntegerRangeGrammar {
    private static let digit = GrammarExpr.characters([0x30...0x39], negated: false)

    private static func digits(_ a: UInt8, _ b: UInt8) -> GrammarExpr {
        a == b ? .literal([0x30 + a]) : .characters([UInt32(0x30 + a)...UInt32(0x30 + b)], negated: false)
    }

    /// The canonical decimal integers n with `min ≤ n ≤ max` (nil bounds are open); nil when
    /// the range is empty.
    static func integers(min: Int?, max: Int?) -> GrammarExpr? {
        if let min, let max, min > max { return nil }
        var options: [GrammarExpr] = []
        // Negative side: "-" then magnitudes m with max(1, -max) ≤ m ≤ -min.
        if min.map({ $0 < 0 }) ?? true {
            let low: UInt64 = max.map { $0 < 0 ? UInt64($0.magnitude) : 1 } ?? 1
            let high: UInt64? = min.map { UInt64($0.magnitude) }
            if let magnitudes = unsigned(min: low, max: high) { options.append(.sequence([.text("-"), magnitudes])) }
        }
        if max.map({ $0 >= 0 }) ?? true {
            let low = UInt64(Swift.max(0, min ?? 0))
            if let values = unsigned(min: low, max: max.map { UInt64($0) }) { options.append(values) }
        }
        if options.isEmpty { return nil }
        return options.count == 1 ? options[0] : .choice(options)
    }

    /// The decimal integers without sign in `min...max` (max nil: no limit), no leading zeros.
    static func unsigned(min: UInt64, max: UInt64?) -> GrammarExpr? {
        if let max, min > max { return nil }
        let low = Array(String(min).utf8).map { $0 - 0x30 }
        var options: [GrammarExpr] = []
        guard let max else {
            // Same length as min and at least min, or any longer number.
            options.append(fixedWidth(low, [UInt8](repeating: 9, count: low.count)))
            options.append(.sequence([digits(1, 9), .repeat(digit, min: low.count, max: nil)]))
            return .choice(options)
        }
        let high = Array(String(max).utf8).map { $0 - 0x30 }
        for width in low.count...high.count {
            let a = width == low.count ? low : [1] + [UInt8](repeating: 0, count: width - 1)
            let b = width == high.count ? high : [UInt8](repeating: 9, count: width)
            options.append(fixedWidth(a, b))
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    /// Digit strings of the same width from `a` to `b` (a ≤ b), as few alternatives as the
    /// classic range split needs.
    private static func fixedWidth(_ a: [UInt8], _ b: [UInt8]) -> GrammarExpr {
        guard let a0 = a.first, let b0 = b.first else { return .empty }
        let restA = Array(a.dropFirst()), restB = Array(b.dropFirst())
        if a0 == b0 { return .sequence([digits(a0, a0), fixedWidth(restA, restB)]) }
        let any = GrammarExpr.repeat(digit, min: restA.count, max: restA.count)
        var options: [GrammarExpr] = []
        let lowFull = restA.allSatisfy { $0 == 0 }, highFull = restB.allSatisfy { $0 == 9 }
        if !lowFull { options.append(.sequence([digits(a0, a0), fixedWidth(restA, [UInt8](repeating: 9, count: restA.count))])) }
        let from = lowFull ? a0 : a0 + 1, to = highFull ? b0 : b0 - 1
        if from <= to { options.append(.sequence([digits(from, to), any])) }
        if !highFull { options.append(.sequence([digits(b0, b0), fixedWidth([UInt8](repeating: 0, count: restB.count), restB)])) }
        return options.count == 1 ? options[0] : .choice(options)
    }

    /// One end of a range of numbers.
    struct Bound: Equatable {
        var value: Int
        var exclusive: Bool
    }

    /// JSON numbers x written without exponent (`-1.50`, `3`) with `min ≤ x ≤ max` (or `<`
    /// for exclusive bounds), for integer bounds; nil when none fits. Negative zero is never
    /// written.
    ///
    /// For x = I.F ≥ 0: x ≥ m ⟺ I ≥ m; x > m ⟺ I > m or (I = m and F ≠ 0); x < M ⟺ I < M;
    /// x ≤ M ⟺ I < M or (I = M and F = 0). Negative x is the same on its magnitude.
    static func decimals(min: Bound?, max: Bound?) -> GrammarExpr? {
        var options: [GrammarExpr] = []
        // x ≥ 0, written without a sign.
        if max.map({ $0.value > 0 || ($0.value == 0 && !$0.exclusive) }) ?? true {
            let low = min.flatMap { $0.value >= 0 ? $0 : nil } ?? Bound(value: 0, exclusive: false)
            if let e = unsignedDecimals(min: low, max: max) { options.append(e) }
        }
        // x < 0, written "-" y with y = -x > 0.
        if min.map({ $0.value < 0 }) ?? true {
            var low = Bound(value: 0, exclusive: true)
            if let max, max.value < 0 { low = Bound(value: -max.value, exclusive: max.exclusive) }
            let high = min.map { Bound(value: -$0.value, exclusive: $0.exclusive) }
            if let e = unsignedDecimals(min: low, max: high) { options.append(.sequence([.text("-"), e])) }
        }
        if options.isEmpty { return nil }
        return options.count == 1 ? options[0] : .choice(options)
    }

    /// Unsigned decimals y = I.F with `min` ≤ y ≤ `max` (min.value ≥ 0).
    private static func unsignedDecimals(min: Bound, max: Bound?) -> GrammarExpr? {
        let anyFraction = GrammarExpr.optional(.sequence([.text("."), .plus(digit)]))
        let zeroFraction = GrammarExpr.optional(.sequence([.text("."), .plus(.text("0"))]))
        let nonZeroFraction = GrammarExpr.sequence([.text("."), .star(.text("0")), digits(1, 9), .star(digit)])
        let lowAny = min.exclusive ? min.value + 1 : min.value
        let highAny: Int? = max.map { $0.value - 1 }
        var options: [GrammarExpr] = []
        if highAny.map({ lowAny <= $0 }) ?? true,
           let i = unsigned(min: UInt64(lowAny), max: highAny.map { UInt64($0) }) {
            options.append(.sequence([i, anyFraction]))
        }
        if min.exclusive, highAny.map({ min.value <= $0 }) ?? true {
            options.append(.sequence([.text(String(min.value)), nonZeroFraction]))
        }
        if let max, !max.exclusive, max.value >= lowAny {
            options.append(.sequence([.text(String(max.value)), zeroFraction]))
        }
        if options.isEmpty { return nil }
        return options.count == 1 ? options[0] : .choice(options)
    }
}
