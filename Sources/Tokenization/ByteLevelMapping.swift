/// GPT-2's reversible map between bytes and printable Unicode characters.
///
/// Byte-level BPE vocabularies store every token as a string of these characters: the 188
/// printable Latin-1 bytes stand for themselves and the other 68 bytes (controls, space, DEL,
/// and a few Latin-1 gaps) are moved to U+0100 and up, in byte order. So the space byte 0x20 is
/// `Ġ` (U+0120) and newline 0x0A is `Ċ` (U+010A).
public enum ByteLevelMapping {
    /// The character standing for each byte.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a mapped character stands for, or `nil` for characters outside the map.
    /// The character GPT-2's byte map puts for `byte` (how byte-level vocabularies spell it).
    public static func scalar(for byte: UInt8) -> Unicode.Scalar { byteToScalar[Int(byte)] }

    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        switch v {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return UInt8(v)
        case 0x100..<0x144: return unprintableBytes[Int(v - 0x100)]
        default: return nil
        }
    }

    /// The bytes moved to U+0100…U+0143, in order.
    private static let unprintableBytes: [UInt8] = (0..<256).compactMap { byte -> UInt8? in
        let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        return printable ? nil : UInt8(byte)
    }

    /// The mapped string for raw bytes (`" hi"` → `"Ġhi"`).
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// The raw bytes of a mapped string, or `nil` if it contains a character outside the map.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            guard let b = byte(for: scalar) else { return nil }
            out.append(b)
        }
        return out
    }
}
