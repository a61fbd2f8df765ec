/// Random strings that stress the pre-tokenizers: many scripts, emoji, combining marks,
/// whitespace runs, digits, apostrophes and special-token look-alikes.
enum RandomText {
    static let pieces: [String] = {
        var p = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789").map(String.init)
        p += Array(" '\"!?.,;:-_()[]{}<>=+$^~|`@#%&*/\\").map(String.init)
        p += [" ", " ", " ", "  ", "    ", "\n", "\n\n", "\r\n", "\t", "\r", "\u{A0}", "\u{3000}", "\u{85}", "\u{2028}", "\u{0B}", "\u{0C}"]
        p += ["'s", "'S", "'re", "'RE", "'ll", "'t", "'d", "'m", "'ve", "'x", "don't", "I'LL"]
        p += Array("éüßñçøÅÆ").map(String.init) + ["e\u{301}", "a\u{308}", "\u{20DD}", "\u{301}"]
        p += Array("日本語中文한국어привет").map(String.init) + Array("مرحبا٣٤٥").map(String.init)
        p += ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "🤖"] + Array("²³½ⅣⅫ①").map(String.init)
        p += Array("€£¥©®™°±×÷…—–“”‘’«»").map(String.init) + ["\u{200B}", "\u{200D}", "\u{FEFF}", "\u{0}", "\u{7}", "\u{1B}"]
        p += ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|", "|>", "12345", "3.14159", "1,000,000"]
        return p
    }()

    static func string(using rng: inout SeededGenerator, maxPieces: Int = 30) -> String {
        let n = Int.random(in: 0...maxPieces, using: &rng)
        var s = ""
        for _ in 0..<n { s += pieces.randomElement(using: &rng)! }
        return s
    }

    static func bytes(using rng: inout SeededGenerator, maxCount: Int = 40) -> [UInt8] {
        let n = Int.random(in: 0...maxCount, using: &rng)
        return (0..<n).map { _ in
            // Bias towards bytes that make interesting (in)valid UTF-8.
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: UInt8.random(in: 0x20...0x7E, using: &rng)
            case 1: UInt8.random(in: 0x80...0xBF, using: &rng)
            case 2: [0xC2, 0xC3, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xC0, 0xC1].randomElement(using: &rng)!
            default: UInt8.random(in: 0...255, using: &rng)
            }
        }
    }
}
