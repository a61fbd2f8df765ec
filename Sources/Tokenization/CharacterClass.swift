/// The Unicode classes the pre-tokenizers ask about, packed in one byte per character.
///
/// Letters are general category L*, numbers N*, punctuation P*, whitespace is the Unicode
/// `White_Space` property (`\s` in llama.cpp's pre-tokenizers). Every character has
/// ``present`` set, so a zero value means "past the end of the fragment", as in llama.cpp's
/// hand-written matchers.
struct CharacterClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = CharacterClass(rawValue: 1 << 0)
    static let number = CharacterClass(rawValue: 1 << 1)
    static let whitespace = CharacterClass(rawValue: 1 << 2)
    static let punctuation = CharacterClass(rawValue: 1 << 3)
    static let present = CharacterClass(rawValue: 1 << 7)

    /// The classes of the character with scalar value `value` (U+FFFD stands in for invalid bytes).
    static func of(_ value: UInt32) -> CharacterClass {
        if value < 128 { return ascii[Int(value)] }
        guard let scalar = Unicode.Scalar(value) else { return .present }
        return compute(scalar)
    }

    private static let ascii: [CharacterClass] = (0..<128).map { compute(Unicode.Scalar(UInt8($0))) }

    private static func compute(_ scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        var result: CharacterClass = .present
        if properties.isWhitespace { result.insert(.whitespace) }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        default:
            break
        }
        return result
    }
}
