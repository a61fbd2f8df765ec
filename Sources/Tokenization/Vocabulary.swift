import GGUF

/// A tokenizer's vocabulary and settings, read from GGUF `tokenizer.*` metadata.
///
/// Reading follows llama.cpp (`llama-vocab.cpp`): the same keys, the same defaults, and the same
/// list of end-of-generation tokens. Anything missing or of the wrong type yields a
/// ``TokenizerError`` naming the key.
///
/// ```swift
/// let file = try GGUFFile(path: path)
/// let vocabulary = try Vocabulary(metadata: file.metadata)
/// print(vocabulary.count, vocabulary.model)
/// ```
public struct Vocabulary: Sendable {
    /// The tokenization algorithm, from `tokenizer.ggml.model`.
    public enum Model: String, Sendable {
        /// GPT-2 style byte-level BPE (`gpt2`): tokens are strings over GPT-2's byte-to-character
        /// alphabet (space is `Ġ`), merged in the order of `tokenizer.ggml.merges`.
        case byteLevelBPE = "gpt2"
        /// SentencePiece BPE (`llama`): pieces with scores, `▁` for spaces, `<0xNN>` byte fallback.
        case sentencePiece = "llama"
    }

    /// The tokenization algorithm.
    public let model: Model
    /// The pre-tokenizer name from `tokenizer.ggml.pre` (`"default"` when absent).
    public let preTokenizerName: String
    /// Token texts, indexed by id, exactly as stored.
    public let tokens: [String]
    /// Token kinds, indexed by id. Tokens that end generation (`<|im_end|>`, `<|eot_id|>`, …) are
    /// marked ``TokenType/control`` even if the file says otherwise, as llama.cpp does.
    public let tokenTypes: [TokenType]
    /// SentencePiece scores, indexed by id (all zero when absent).
    public let scores: [Float]
    /// BPE merges in rank order (empty for SentencePiece).
    public let merges: [(left: String, right: String)]

    public let bosTokenId: Int?
    public let eosTokenId: Int?
    /// End of turn; from `tokenizer.ggml.eot_token_id`, else found by its text (`<|im_end|>`, …).
    public let eotTokenId: Int?
    /// End of message (`tokenizer.ggml.eom_token_id`).
    public let eomTokenId: Int?
    public let unknownTokenId: Int?
    public let paddingTokenId: Int?
    /// Whether encoding with special tokens starts with BOS.
    public let addBOS: Bool
    /// Whether encoding with special tokens ends with EOS.
    public let addEOS: Bool
    /// Whether SentencePiece encoding puts a space before the text (ignored by byte-level BPE).
    public let addSpacePrefix: Bool
    /// The Jinja chat template (`tokenizer.chat_template`), if the file has one.
    public let chatTemplate: String?
    /// The tokens that end generation: EOS, EOT, EOM and the control tokens llama.cpp treats so.
    public let endOfGenerationIds: Set<Int>

    /// The pre-tokenizer chosen by ``preTokenizerName`` (byte-level BPE only).
    let preTokenizer: PreTokenizer

    /// The number of tokens.
    public var count: Int { tokens.count }

    /// Token texts llama.cpp treats as end of generation (`special_eog_ids`).
    static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    ]

    /// Token texts llama.cpp accepts as the end-of-turn token when no id is given, in preference order.
    static let endOfTurnTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
        "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]

    /// The most tokens a vocabulary may have (the largest real ones have about 262,000).
    static let maxTokens = 4 << 20

    /// Two tokens with one text, unless one of them is an unused slot, make text ambiguous. A
    /// byte-level BPE vocabulary comes from a map of texts, so a repeat means a corrupt or hostile
    /// file; SentencePiece models may repeat a piece (llama.cpp keeps the last), so they are not checked.
    private static func checkUnique(_ tokens: [String], _ types: [TokenType]) throws(TokenizerError) {
        var first: [String: Int] = [:]
        first.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() where types[id] != .unused && types[id] != .undefined {
            if let earlier = first.updateValue(id, forKey: text) { throw .duplicateToken(text: text, firstId: earlier, secondId: id) }
        }
    }

    /// Reads the vocabulary from GGUF metadata.
    public init(metadata: GGUFMetadata) throws(TokenizerError) {
        let reader = MetadataReader(metadata: metadata)
        let modelName = try reader.string("tokenizer.ggml.model")
        guard let model = Model(rawValue: modelName) else { throw .unsupportedModel(modelName) }
        self.model = model

        tokens = try reader.strings("tokenizer.ggml.tokens")
        guard !tokens.isEmpty else { throw .emptyVocabulary }
        let n = tokens.count
        guard n <= Self.maxTokens else { throw .vocabularyTooLarge(count: n, limit: Self.maxTokens) }

        var types: [TokenType]
        if let raw = try reader.optionalInts("tokenizer.ggml.token_type") {
            guard raw.count == n else { throw .arrayLengthMismatch(key: "tokenizer.ggml.token_type", expected: n, found: raw.count) }
            types = raw.map { TokenType(rawValue: $0) ?? .undefined }
        } else {
            types = Array(repeating: .normal, count: n)
        }
        if let raw = try reader.optionalFloats("tokenizer.ggml.scores") {
            guard raw.count == n else { throw .arrayLengthMismatch(key: "tokenizer.ggml.scores", expected: n, found: raw.count) }
            scores = raw
        } else {
            scores = Array(repeating: 0, count: n)
        }

        if model == .byteLevelBPE { try Self.checkUnique(tokens, types) }

        preTokenizerName = try reader.optionalString("tokenizer.ggml.pre") ?? "default"
        switch model {
        case .byteLevelBPE:
            preTokenizer = try PreTokenizer(named: preTokenizerName)
            var merges: [(left: String, right: String)] = []
            let texts = try reader.strings("tokenizer.ggml.merges")
            merges.reserveCapacity(texts.count)
            for (i, text) in texts.enumerated() {
                // llama.cpp splits at the first space after the first character.
                let utf8 = text.utf8
                guard let space = utf8.dropFirst().firstIndex(of: UInt8(ascii: " ")) else {
                    throw .malformedMerge(index: i, merge: text)
                }
                merges.append((String(text[..<space]), String(text[utf8.index(after: space)...])))
            }
            let known = Set(tokens)
            if let bad = merges.firstIndex(where: { !known.contains($0.left) || !known.contains($0.right) }) {
                throw .mergeOfUnknownToken(index: bad, merge: texts[bad])
            }
            self.merges = merges
        case .sentencePiece:
            preTokenizer = try PreTokenizer(named: "default")  // not used by SentencePiece
            merges = []
        }

        func tokenId(_ key: String, default fallback: Int?) throws(TokenizerError) -> Int? {
            guard let id = try reader.optionalInt(key) else { return fallback.flatMap { $0 < n ? $0 : nil } }
            guard id >= 0 && id < n else { throw .tokenIdOutOfRange(key: key, id: id, vocabularySize: n) }
            return id
        }
        // llama.cpp's SentencePiece defaults; byte-level BPE has none we trust (llama.cpp's 11 is GPT-2's ",").
        let isSPM = model == .sentencePiece
        bosTokenId = try tokenId("tokenizer.ggml.bos_token_id", default: isSPM ? 1 : nil)
        eosTokenId = try tokenId("tokenizer.ggml.eos_token_id", default: isSPM ? 2 : nil)
        unknownTokenId = try tokenId("tokenizer.ggml.unknown_token_id", default: isSPM ? 0 : nil)
        paddingTokenId = try tokenId("tokenizer.ggml.padding_token_id", default: nil)
        eomTokenId = try tokenId("tokenizer.ggml.eom_token_id", default: nil)

        addBOS = try reader.optionalBool("tokenizer.ggml.add_bos_token") ?? (isSPM || preTokenizer.addsBOSByDefault)
        addEOS = try reader.optionalBool("tokenizer.ggml.add_eos_token") ?? false
        addSpacePrefix = try reader.optionalBool("tokenizer.ggml.add_space_prefix") ?? isSPM
        chatTemplate = try reader.optionalString("tokenizer.chat_template")

        // Find end-of-turn and end-of-generation tokens by their text, as llama.cpp does, and make
        // them control tokens so that they are never produced from plain text.
        var idByText: [String: Int] = [:]
        for (id, text) in tokens.enumerated() where Self.endOfGenerationTexts.contains(text) || Self.endOfTurnTexts.contains(text) {
            idByText[text] = id
        }
        var eot = try tokenId("tokenizer.ggml.eot_token_id", default: nil)
        if eot == nil, let text = Self.endOfTurnTexts.first(where: { idByText[$0] != nil }) {
            eot = idByText[text]
            types[eot!] = .control
        }
        eotTokenId = eot
        var endOfGeneration = Set<Int>()
        for (text, id) in idByText where Self.endOfGenerationTexts.contains(text) {
            endOfGeneration.insert(id)
            types[id] = .control
        }
        for id in [eosTokenId, eotTokenId, eomTokenId] {
            if let id { endOfGeneration.insert(id) }
        }
        tokenTypes = types
        endOfGenerationIds = endOfGeneration
    }
}

/// Typed access to GGUF metadata that reports problems as ``TokenizerError``.
private struct MetadataReader {
    let metadata: GGUFMetadata

    func string(_ key: String) throws(TokenizerError) -> String {
        guard let s = try optionalString(key) else { throw .missingKey(key) }
        return s
    }

    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        guard let value = metadata[key] else { return nil }
        guard let s = value.stringValue else { throw .wrongValueType(key: key, expected: "a string") }
        return s
    }

    func optionalInt(_ key: String) throws(TokenizerError) -> Int? {
        guard let value = metadata[key] else { return nil }
        guard value.stringValue == nil, value.boolValue == nil, let i = value.intValue else {
            throw .wrongValueType(key: key, expected: "an integer")
        }
        return i
    }

    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let b = value.boolValue else { throw .wrongValueType(key: key, expected: "a boolean") }
        return b
    }

    func strings(_ key: String) throws(TokenizerError) -> [String] {
        guard let value = metadata[key] else { throw .missingKey(key) }
        guard case .array(let type, let values) = value, type == .string else {
            throw .wrongValueType(key: key, expected: "an array of strings")
        }
        return values.map { $0.stringValue ?? "" }
    }

    func optionalInts(_ key: String) throws(TokenizerError) -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard let values = value.arrayValue else { throw .wrongValueType(key: key, expected: "an array of integers") }
        var out: [Int] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard v.boolValue == nil, let i = v.intValue else { throw .wrongValueType(key: key, expected: "an array of integers") }
            out.append(i)
        }
        return out
    }

    func optionalFloats(_ key: String) throws(TokenizerError) -> [Float]? {
        guard let value = metadata[key] else { return nil }
        guard let values = value.arrayValue else { throw .wrongValueType(key: key, expected: "an array of numbers") }
        var out: [Float] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard v.boolValue == nil, let d = v.doubleValue else { throw .wrongValueType(key: key, expected: "an array of numbers") }
            out.append(Float(d))
        }
        return out
    }
}
