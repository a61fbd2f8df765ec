/// Which tokens may come next: one bit per token id, set when the token is allowed (XGrammar's
/// and vLLM's token bitmask, 64 tokens a word).
///
/// ```swift
/// var mask = TokenBitmask(vocabSize: info.vocabSize)
/// matcher.fillNextTokenBitmask(&mask)
/// logits.withUnsafeMutableBufferPointer { mask.apply(to: $0) }
/// ```
public struct TokenBitmask: Sendable, Equatable {
    /// The number of token ids the mask covers.
    public let vocabSize: Int
    /// The bits, token `id` at bit `id % 64` of word `id / 64`; bits past `vocabSize` stay clear.
    public internal(set) var words: [UInt64]

    /// A mask that allows nothing (or, when `allowed`, every token).
    public init(vocabSize: Int, allowed: Bool = false) {
        precondition(vocabSize >= 0, "negative vocabulary size")
        self.vocabSize = vocabSize
        words = [UInt64](repeating: 0, count: (vocabSize + 63) / 64)
        if allowed { allowAll() }
    }

    /// A mask that allows exactly `ids` (ids outside the vocabulary are ignored).
    public init(vocabSize: Int, allowing ids: some Sequence<Int>) {
        self.init(vocabSize: vocabSize)
        for id in ids where id >= 0 && id < vocabSize { self[id] = true }
    }

    /// Whether token `id` is allowed; `false` outside the vocabulary.
    public subscript(id: Int) -> Bool {
        get { id >= 0 && id < vocabSize && words[id >> 6] & (1 << UInt64(id & 63)) != 0 }
        set {
            precondition(id >= 0 && id < vocabSize, "token \(id) outside a vocabulary of \(vocabSize)")
            if newValue { words[id >> 6] |= 1 << UInt64(id & 63) } else { words[id >> 6] &= ~(1 << UInt64(id & 63)) }
        }
    }

    /// Disallows every token.
    public mutating func removeAll() {
        words.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Allows every token.
    public mutating func allowAll() {
        words.withUnsafeMutableBufferPointer { $0.update(repeating: ~0) }
        clearTail()
    }

    /// The number of allowed tokens.
    public var allowedCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The allowed token ids, ascending.
    public var allowedTokenIds: [Int] {
        var out: [Int] = []
        for (i, word) in words.enumerated() {
            var w = word
            while w != 0 {
                out.append(i << 6 | w.trailingZeroBitCount)
                w &= w &- 1
            }
        }
        return out
    }

    /// Sets every disallowed token's logit to -infinity, a word of 64 tokens at a time (words
    /// that allow all 64 are skipped). Logits past `vocabSize` (a model's padded vocabulary) are
    /// not tokens and are set to -infinity too; a mask wider than `logits` stops at its end.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>) {
        guard let base = logits.baseAddress else { return }
        let count = logits.count
        words.withUnsafeBufferPointer { words in
            let full = min(words.count, count >> 6)
            for i in 0..<full {
                let word = words[i]
                if word == ~0 { continue }
                let row = base + i << 6
                if word == 0 {
                    row.update(repeating: -.infinity, count: 64)
                    continue
                }
                var blocked = ~word
                while blocked != 0 {
                    row[blocked.trailingZeroBitCount] = -.infinity
                    blocked &= blocked &- 1
                }
            }
            // The partial last word, and anything past the vocabulary.
            var id = full << 6
            while id < count {
                let allowed = id < vocabSize && words[id >> 6] & (1 << UInt64(id & 63)) != 0
                if !allowed { base[id] = -.infinity }
                id += 1
            }
        }
    }

    /// ``apply(to:)`` on an array.
    public func apply(to logits: inout [Float]) {
        logits.withUnsafeMutableBufferPointer { apply(to: $0) }
    }

    /// Allows the tokens of `other` too (same width).
    public mutating func formUnion(_ other: TokenBitmask) {
        precondition(other.vocabSize == vocabSize, "masks of different widths")
        orWords(other.words)
    }

    /// ORs `source` (same word count) into the mask.
    mutating func orWords(_ source: [UInt64]) {
        source.withUnsafeBufferPointer { src in
            words.withUnsafeMutableBufferPointer { dst in
                for i in 0..<min(src.count, dst.count) { dst[i] |= src[i] }
            }
        }
    }

    /// Clears the bits past `vocabSize` in the last word.
    mutating func clearTail() {
        let extra = words.count * 64 - vocabSize
        if extra > 0 { words[words.count - 1] &= ~UInt64(0) >> UInt64(extra) }
    }
}
