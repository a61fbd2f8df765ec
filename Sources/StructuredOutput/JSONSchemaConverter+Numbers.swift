/// Integers and numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`
/// (Draft 2020-12 numbers, or Draft 4 / OpenAPI 3.0 booleans that make `minimum`/`maximum`
/// exclusive). Integer ranges are exact for any bounds up to 10^18 in magnitude; number ranges
/// are exact for integer bounds (numbers are then written without exponent).
extension JSONSchemaGrammarBuilder {
    /// One end of a range as the schema gives it.
    struct SchemaBound {
        var value: Double
        var exclusive: Bool
        var keyword: String
    }

    private static let maxBound = 1e18

    /// The tighter lower and upper bounds the schema sets (nil: open).
    func bounds(_ schema: JSONValue) throws(GrammarError) -> (lower: SchemaBound?, upper: SchemaBound?) {
        func value(_ key: String) throws(GrammarError) -> Double? {
            guard let v = schema[key] else { return nil }
            guard let d = v.doubleValue else { throw .invalidSchema("\(key) must be a number") }
            return d
        }
        func side(_ inclusiveKey: String, _ exclusiveKey: String, tighter: (Double, Double) -> Bool) throws(GrammarError) -> SchemaBound? {
            var bound = try value(inclusiveKey).map { SchemaBound(value: $0, exclusive: false, keyword: inclusiveKey) }
            switch schema[exclusiveKey] {
            case nil: break
            case .bool(let flag)?:
                guard bound != nil else { break }
                bound?.exclusive = flag
            case let v?:
                guard let d = v.doubleValue else { throw .invalidSchema("\(exclusiveKey) must be a number or a boolean") }
                if bound == nil || tighter(d, bound!.value) || d == bound!.value {
                    bound = SchemaBound(value: d, exclusive: true, keyword: exclusiveKey)
                }
            }
            if let b = bound, abs(b.value) > Self.maxBound {
                throw .unsupportedSchema(keyword: b.keyword, reason: "bounds beyond ±10^18 are not supported")
            }
            return bound
        }
        return (try side("minimum", "exclusiveMinimum", tighter: >), try side("maximum", "exclusiveMaximum", tighter: <))
    }

    func integer(_ schema: JSONValue) throws(GrammarError) -> GrammarExpr {
        let (lower, upper) = try bounds(schema)
        if lower == nil, upper == nil { return primitive(.integer) }
        let low = lower.map { b in Int(b.exclusive ? (b.value + 1).rounded(.down) : b.value.rounded(.up)) }
        let high = upper.map { b in Int(b.exclusive ? (b.value - 1).rounded(.up) : b.value.rounded(.down)) }
        guard let e = IntegerRangeGrammar.integers(min: low, max: high) else {
            throw .unsupportedSchema(keyword: lower?.keyword ?? upper!.keyword, reason: "no integer lies in the range")
        }
        return e
    }

    func number(_ schema: JSONValue) throws(GrammarError) -> GrammarExpr {
        let (lower, upper) = try bounds(schema)
        if lower == nil, upper == nil { return primitive(.number) }
        for b in [lower, upper].compactMap({ $0 }) where b.value.rounded() != b.value {
            throw .unsupportedSchema(keyword: b.keyword, reason: "only integer bounds are supported on numbers, not \(b.value)")
        }
        let low = lower.map { IntegerRangeGrammar.Bound(value: Int($0.value), exclusive: $0.exclusive) }
        let high = upper.map { IntegerRangeGrammar.Bound(value: Int($0.value), exclusive: $0.exclusive) }
        guard let e = IntegerRangeGrammar.decimals(min: low, max: high) else {
            throw .unsupportedSchema(keyword: lower?.keyword ?? upper!.keyword, reason: "no number lies in the range")
        }
        return e
    }
}
