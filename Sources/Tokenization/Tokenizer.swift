import GGUF

/// Turns text into token ids and back, as llama.cpp does for the same GGUF vocabulary.
///
/// Supports byte-level BPE (`gpt2`, with llama.cpp's pre-tokenizers) and SentencePiece BPE
/// (`llama`). Immutable after loading, so one instance can serve every thread.
///
/// ```swift
/// let tokenizer = try Tokenizer(metadata: GGUFFile(path: path).metadata)
/// let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n", parseSpecial: true)
/// let text = tokenizer.decode(ids)
/// ```
///
/// Encoding never fails: bytes that are not valid UTF-8 are kept as they are (byte-level BPE
/// encodes any byte; SentencePiece falls back to `<0xNN>` tokens), and decoding replaces
/// invalid UTF-8 in the token stream with U+FFFD.
public final class Tokenizer: Sendable {
    /// The vocabulary and settings this tokenizer was built from.
    public let vocabulary: Vocabulary

    private enum Algorithm: Sendable {
        case bytePair(BytePairEncoder)
        case sentencePiece(SentencePieceEncoder)
    }

    private let algorithm: Algorithm
    private let splitter: SpecialTokenSplitter
    /// The rendered bytes of every token, back to back: token `i` is `pieceStarts[i]..<pieceStarts[i+1]`.
    private let pieceBytes: [UInt8]
    private let pieceStarts: [Int]
    /// Whether decoding drops the space that encoding put in front of the text (SentencePiece).
    private let stripsLeadingSpace: Bool

    /// Reads the vocabulary from GGUF metadata and prepares the tokenizer.
    public convenience init(metadata: GGUFMetadata) throws(TokenizerError) {
        self.init(vocabulary: try Vocabulary(metadata: metadata))
    }

    /// Prepares a tokenizer for `vocabulary`.
    public init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
        switch vocabulary.model {
        case .byteLevelBPE: algorithm = .bytePair(BytePairEncoder(vocabulary: vocabulary))
        case .sentencePiece: algorithm = .sentencePiece(SentencePieceEncoder(vocabulary: vocabulary))
        }
        splitter = SpecialTokenSplitter(vocabulary: vocabulary)
        stripsLeadingSpace = vocabulary.model == .sentencePiece && vocabulary.addSpacePrefix

        var bytes: [UInt8] = []
        var starts = [0]
        starts.reserveCapacity(vocabulary.count + 1)
        for id in 0..<vocabulary.count {
            bytes.append(contentsOf: Self.render(vocabulary.tokens[id], type: vocabulary.tokenTypes[id], model: vocabulary.model))
            starts.append(bytes.count)
        }
        pieceBytes = bytes
        pieceStarts = starts
    }

    // MARK: - Properties

    /// The number of tokens in the vocabulary.
    public var vocabSize: Int { vocabulary.count }
    /// The beginning-of-sequence token, if the vocabulary has one.
    public var bosTokenId: Int? { vocabulary.bosTokenId }
    /// The end-of-sequence token, if the vocabulary has one.
    public var eosTokenId: Int? { vocabulary.eosTokenId }
    /// The end-of-turn token, if the vocabulary has one.
    public var eotTokenId: Int? { vocabulary.eotTokenId }
    /// The model's Jinja chat template (`tokenizer.chat_template`), if any.
    public var chatTemplate: String? { vocabulary.chatTemplate }

    /// Whether generating `id` ends generation: EOS, EOT, EOM, or a control token such as
    /// `<|im_end|>` or `<|endoftext|>` that llama.cpp treats as end of generation.
    public func isEndOfGeneration(_ id: Int) -> Bool {
        vocabulary.endOfGenerationIds.contains(id)
    }

    /// The kind of token `id`, or `nil` if `id` is outside the vocabulary.
    public func tokenType(_ id: Int) -> TokenType? {
        vocabulary.tokenTypes.indices.contains(id) ? vocabulary.tokenTypes[id] : nil
    }

    // MARK: - Encoding

    /// The tokens of `text`.
    ///
    /// - Parameters:
    ///   - addSpecial: add BOS and EOS where the vocabulary asks for them (`add_bos_token`, `add_eos_token`).
    ///   - parseSpecial: recognise the texts of control tokens (`<|im_start|>`, …) and emit their
    ///     ids; when false they are tokenized as plain text. User-defined tokens are always recognised.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int] {
        var text = text
        return text.withUTF8 { encode(buffer: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// The tokens of arbitrary bytes, which need not be valid UTF-8.
    ///
    /// Invalid bytes are tokenized as themselves (byte-level BPE) or as byte-fallback tokens
    /// (SentencePiece), so decoding gives them back where the vocabulary allows; for choosing word
    /// boundaries they count as U+FFFD. (llama.cpp instead replaces each by U+FFFD before tokenizing.)
    public func encode(bytes: [UInt8], addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int] {
        bytes.withUnsafeBufferPointer { encode(buffer: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    private func encode(buffer: UnsafeBufferPointer<UInt8>, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(buffer.count / 3 + 2)
        if addSpecial && vocabulary.addBOS, let bos = vocabulary.bosTokenId { output.append(bos) }
        let fragments = splitter.split(buffer, parseSpecial: parseSpecial)

        switch algorithm {
        case .bytePair(let encoder):
            var scratch = BytePairEncoder.Scratch()
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    let text = UnsafeBufferPointer(rebasing: buffer[range])
                    let units = TextUnits(text)
                    let boundaries = vocabulary.preTokenizer.split(units)
                    for i in 0..<(boundaries.count - 1) {
                        let word = units.offsets[boundaries[i]]..<units.offsets[boundaries[i + 1]]
                        encoder.encode(UnsafeBufferPointer(rebasing: text[word]), into: &output, scratch: &scratch)
                    }
                }
            }
        case .sentencePiece(let encoder):
            var afterSpecial = true
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    afterSpecial = true
                case .text(let range):
                    let spacePrefix = vocabulary.addSpacePrefix && afterSpecial
                    encoder.encode(UnsafeBufferPointer(rebasing: buffer[range]), spacePrefix: spacePrefix, into: &output)
                    afterSpecial = false
                }
            }
        }

        if addSpecial && vocabulary.addEOS, let eos = vocabulary.eosTokenId { output.append(eos) }
        return output
    }

    // MARK: - Decoding

    /// The text of `ids`.
    ///
    /// Control and unknown tokens are rendered as their text unless `skipSpecialTokens`; ids
    /// outside the vocabulary are skipped. Invalid UTF-8 in the bytes of the tokens becomes
    /// U+FFFD. For SentencePiece vocabularies with `add_space_prefix`, the space encoding put in
    /// front is dropped again.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        var atStart = true
        for id in ids { appendPiece(id, to: &bytes, atStart: &atStart, skipSpecialTokens: skipSpecialTokens) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes token `id` stands for (possibly part of a UTF-8 character); control tokens
    /// give their text, unused tokens and ids outside the vocabulary give nothing.
    public func tokenPiece(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < vocabulary.count else { return [] }
        return Array(pieceBytes[pieceStarts[id]..<pieceStarts[id + 1]])
    }

    /// Appends the rendered bytes of `id`; shared by ``decode(_:skipSpecialTokens:)`` and
    /// ``IncrementalDetokenizer`` so both give the same text.
    func appendPiece(_ id: Int, to bytes: inout [UInt8], atStart: inout Bool, skipSpecialTokens: Bool) {
        guard id >= 0 && id < vocabulary.count else { return }
        if skipSpecialTokens {
            let type = vocabulary.tokenTypes[id]
            if type == .control || type == .unknown { return }
        }
        var start = pieceStarts[id]
        let end = pieceStarts[id + 1]
        guard start < end else { return }
        if atStart {
            atStart = false
            if stripsLeadingSpace && pieceBytes[start] == 0x20 { start += 1 }
        }
        bytes.append(contentsOf: pieceBytes[start..<end])
    }

    /// The bytes a token stands for in decoded text.
    private static func render(_ text: String, type: TokenType, model: Vocabulary.Model) -> [UInt8] {
        switch type {
        case .unused:
            return []
        case .control, .unknown, .userDefined:
            return Array(text.utf8)
        case .byte:
            if let byte = byteFallbackValue(text) { return [byte] }
            fallthrough
        case .normal, .undefined:
            switch model {
            case .byteLevelBPE:
                return ByteLevelMapping.decode(text) ?? Array(text.utf8)
            case .sentencePiece:
                return replacingSpaceMarks(Array(text.utf8))
            }
        }
    }

    /// `▁` (E2 96 81) → space.
    private static func replacingSpaceMarks(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// The byte of a `<0xNN>` token text.
    private static func byteFallbackValue(_ text: String) -> UInt8? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }
}
