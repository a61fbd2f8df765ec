/// Decodes a stream of tokens piece by piece, for streaming output and stop strings.
///
/// Each ``append(_:)`` returns the text that became final with that token. A UTF-8 character
/// split across tokens (an emoji spelled with byte tokens, say) is held back until it is
/// complete; ``finish()`` flushes what is left, with U+FFFD for a dangling partial character.
/// The concatenation of everything returned equals ``Tokenizer/decode(_:skipSpecialTokens:)`` of
/// all the ids.
///
/// ```swift
/// var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
/// for id in generated { print(detokenizer.append(id), terminator: "") }
/// print(detokenizer.finish())
/// ```
public struct IncrementalDetokenizer: Sendable {
    /// The tokenizer whose pieces are decoded.
    public let tokenizer: Tokenizer
    /// Whether control and unknown tokens are left out, as in ``Tokenizer/decode(_:skipSpecialTokens:)``.
    public let skipSpecialTokens: Bool
    /// Bytes of an incomplete UTF-8 character at the end of the stream so far.
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token; returns the text that is now final (possibly empty).
    public mutating func append(_ id: Int) -> String {
        takeFinal(after: id) { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Adds one token and appends the UTF-8 bytes that are now final to `text` (the streaming
    /// loop's form: no string is made).
    public mutating func append(_ id: Int, to text: inout [UInt8]) {
        takeFinal(after: id) { text.append(contentsOf: $0) }
    }

    /// Adds the token's bytes, then hands `body` the complete characters and drops them.
    private mutating func takeFinal<R>(after id: Int, _ body: (ArraySlice<UInt8>) -> R) -> R? {
        tokenizer.appendPiece(id, to: &pending, atStart: &atStart, skipSpecialTokens: skipSpecialTokens)
        let held = UTF8Scanner.incompleteSuffixLength(pending)
        guard pending.count > held else { return nil }
        let result = body(pending[..<(pending.count - held)])
        pending.removeFirst(pending.count - held)
        return result
    }

    /// Adds several tokens; returns the text that is now final.
    public mutating func append(contentsOf ids: some Sequence<Int>) -> String {
        var text = ""
        for id in ids { text += append(id) }
        return text
    }

    /// Ends the stream: returns the held-back bytes, a partial character becoming U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// ``finish()``, appending the text's UTF-8 bytes to `text`.
    public mutating func finish(to text: inout [UInt8]) {
        text.append(contentsOf: finish().utf8)
    }
}
