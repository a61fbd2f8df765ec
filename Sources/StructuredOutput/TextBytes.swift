/// Byte-level helpers the grammar and regex parsers share.
enum TextBytes {
    /// The UTF-8 scalar starting at `pos` and the position after it (a truncated sequence ends
    /// at the end of `bytes`).
    static func scalar(in bytes: [UInt8], at pos: Int) -> (value: UInt32, next: Int) {
        let lead = bytes[pos]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> (length + 1))
        for i in 1..<length where pos + i < bytes.count {
            value = value << 6 | UInt32(bytes[pos + i] & 0x3F)
        }
        return (value, min(pos + length, bytes.count))
    }

    /// The value of a hexadecimal digit.
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
