/// Unicode scalar ranges as UTF-8 byte patterns: each pattern is one byte range per encoded
/// byte, and a scalar is in the ranges exactly when its encoding matches one pattern.
enum UTF8Ranges {
    static let maxScalar: UInt32 = 0x10FFFF
    private static let surrogates: ClosedRange<UInt32> = 0xD800...0xDFFF

    /// Sorted, merged ranges without surrogates; `negated` takes the complement over all scalars.
    static func normalize(_ ranges: [ClosedRange<UInt32>], negated: Bool) -> [ClosedRange<UInt32>] {
        var sorted = ranges.map { $0.lowerBound...min($0.upperBound, maxScalar) }
            .filter { $0.lowerBound <= maxScalar }
            .sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for r in sorted {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        if negated {
            var complement: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for r in merged {
                if r.lowerBound > next { complement.append(next...(r.lowerBound - 1)) }
                next = r.upperBound + 1
            }
            if next <= maxScalar { complement.append(next...maxScalar) }
            merged = complement
        }
        sorted = []
        for r in merged {
            if r.upperBound < surrogates.lowerBound || r.lowerBound > surrogates.upperBound {
                sorted.append(r)
                continue
            }
            if r.lowerBound < surrogates.lowerBound { sorted.append(r.lowerBound...(surrogates.lowerBound - 1)) }
            if r.upperBound > surrogates.upperBound { sorted.append((surrogates.upperBound + 1)...r.upperBound) }
        }
        return sorted
    }

    /// The byte patterns of the scalars in `ranges` (already normalized).
    static func patterns(_ ranges: [ClosedRange<UInt32>]) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        for r in ranges {
            // Split at the boundaries between encoded lengths first.
            var lo = r.lowerBound
            for limit: UInt32 in [0x7F, 0x7FF, 0xFFFF, maxScalar] where lo <= r.upperBound && lo <= limit {
                let hi = min(r.upperBound, limit)
                split(lo, hi, into: &out)
                lo = hi + 1
            }
        }
        return out
    }

    private static func split(_ lo: UInt32, _ hi: UInt32, into out: inout [[ClosedRange<UInt8>]]) {
        let n = length(lo)
        for i in 1..<max(n, 1) {
            let m: UInt32 = (1 << (6 * UInt32(i))) - 1
            if lo & ~m != hi & ~m {
                if lo & m != 0 {
                    split(lo, lo | m, into: &out)
                    split((lo | m) + 1, hi, into: &out)
                    return
                }
                if hi & m != m {
                    split(lo, (hi & ~m) - 1, into: &out)
                    split(hi & ~m, hi, into: &out)
                    return
                }
            }
        }
        let a = encode(lo), b = encode(hi)
        out.append(zip(a, b).map { $0...$1 })
    }

    static func length(_ scalar: UInt32) -> Int {
        scalar < 0x80 ? 1 : scalar < 0x800 ? 2 : scalar < 0x10000 ? 3 : 4
    }

    static func encode(_ scalar: UInt32) -> [UInt8] {
        switch length(scalar) {
        case 1: return [UInt8(scalar)]
        case 2: return [UInt8(0xC0 | (scalar >> 6)), UInt8(0x80 | (scalar & 0x3F))]
        case 3: return [UInt8(0xE0 | (scalar >> 12)), UInt8(0x80 | ((scalar >> 6) & 0x3F)), UInt8(0x80 | (scalar & 0x3F))]
        default:
            return [UInt8(0xF0 | (scalar >> 18)), UInt8(0x80 | ((scalar >> 12) & 0x3F)),
                    UInt8(0x80 | ((scalar >> 6) & 0x3F)), UInt8(0x80 | (scalar & 0x3F))]
        }
    }
}
