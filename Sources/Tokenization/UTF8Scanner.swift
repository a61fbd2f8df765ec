/// Strict UTF-8 scanning shared by the encoders and the detokenizers.
///
/// Well-formed means the Unicode definition (no overlong forms, no surrogates, nothing above
/// U+10FFFF), the same rule Swift's `String(decoding:as:)` applies when it repairs bytes.
enum UTF8Scanner {
    /// The scalar starting at `i` and its length, or `(nil, 1)` if the byte at `i` does not start a
    /// well-formed sequence.
    static func scalar(in bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32?, Int) {
        let b0 = bytes[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let length = sequenceLength(lead: b0)
        guard length > 1, i + length <= bytes.count else { return (nil, 1) }
        let b1 = bytes[i + 1]
        guard secondByteRange(lead: b0).contains(b1) else { return (nil, 1) }
        var value = UInt32(b0) & (0xFF >> (length + 1))
        value = value << 6 | UInt32(b1 & 0x3F)
        for k in 2..<length {
            let b = bytes[i + k]
            guard b & 0xC0 == 0x80 else { return (nil, 1) }
            value = value << 6 | UInt32(b & 0x3F)
        }
        return (value, length)
    }

    /// How long a well-formed sequence with this lead byte is (0 for bytes that cannot lead).
    static func sequenceLength(lead: UInt8) -> Int {
        switch lead {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
    }

    /// The bytes allowed right after `lead` in a well-formed sequence.
    static func secondByteRange(lead: UInt8) -> ClosedRange<UInt8> {
        switch lead {
        case 0xE0: 0xA0...0xBF
        case 0xED: 0x80...0x9F
        case 0xF0: 0x90...0xBF
        case 0xF4: 0x80...0x8F
        default: 0x80...0xBF
        }
    }

    /// The length of the tail of `bytes` that is an incomplete but still completable sequence
    /// (0 if the bytes end at a character boundary or in an already-invalid sequence).
    ///
    /// Holding back exactly this tail keeps streamed decoding identical to decoding everything at
    /// once: the tail starts at a lead byte, where a repairing decoder always restarts.
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var k = 1
        while k <= min(3, n) {
            let b = bytes[n - k]
            if b & 0xC0 != 0x80 {
                let length = sequenceLength(lead: b)
                guard length > k else { return 0 }
                if k >= 2 && !secondByteRange(lead: b).contains(bytes[n - k + 1]) { return 0 }
                return k
            }
            k += 1
        }
        return 0
    }
}
