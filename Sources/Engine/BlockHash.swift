/// The hash of one full KV block: H(parent block's hash, this block's token ids, extra keys).
///
/// A 128-bit non-cryptographic hash (two independently seeded multiply–xorshift lanes). A hit is
/// also checked against the block's stored token ids, so a collision can never serve wrong KV.
public struct BlockHash: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    /// Hash of the block holding `tokens` after the block whose hash is `parent` (nil for the first block).
    public init(parent: BlockHash?, tokens: ArraySlice<Int>, extraKey: UInt64 = 0) {
        var a: UInt64 = parent.map { $0.high } ?? 0x243F_6A88_85A3_08D3
        var b: UInt64 = parent.map { $0.low } ?? 0x1319_8A2E_0370_7344
        a = Self.mix(a ^ extraKey &* 0x9E37_79B9_7F4A_7C15)
        b = Self.mix(b &+ extraKey ^ 0xA409_3822_299F_31D0)
        for t in tokens {
            let v = UInt64(bitPattern: Int64(t))
            a = Self.mix(a ^ (v &* 0xFF51_AFD7_ED55_8CCD))
            b = Self.mix(b &+ (v ^ 0xC4CE_B9FE_1A85_EC53))
        }
        high = Self.mix(a ^ UInt64(tokens.count))
        low = Self.mix(b &+ UInt64(tokens.count) &* 0x2545_F491_4F6C_DD1D)
    }

    /// MurmurHash3's 64-bit finaliser.
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    public var description: String { String(high, radix: 16) + String(low, radix: 16) }
}
