import Tokenization

/// The vocabulary as a grammar sees it: the raw bytes of every token, which tokens a grammar may
/// never allow (control, unknown and unused tokens, empty pieces), and which tokens end
/// generation (the "stop tokens", allowed exactly when the output is a complete match).
///
/// The tokens a grammar may allow are also kept sorted by their bytes, each with the length of
/// the prefix it shares with the token before it, so a walk over the vocabulary visits it as a
/// trie: states for a common prefix are computed once, and a rejected prefix skips every token
/// that starts with it (XGrammar's `TokenizerInfo` keeps the same order).
///
/// ```swift
/// let info = TokenizerInfo(tokenizer: tokenizer)
/// let compiled = CompiledGrammar(grammar, tokenizerInfo: info)
/// ```
public final class TokenizerInfo: Sendable {
    /// The number of token ids (the width of a ``TokenBitmask``).
    public let vocabSize: Int
    /// Tokens that end generation (EOS, EOT, `<|im_end|>`, …), ascending.
    public let stopTokenIds: [Int]
    /// Tokens no grammar allows: control, unknown and unused tokens and empty pieces, ascending.
    /// Stop tokens are not in this list.
    public let specialTokenIds: [Int]

    /// Every token's bytes back to back: token `id` is `bytes[starts[id]..<starts[id + 1]]`.
    let bytes: [UInt8]
    let starts: [Int32]
    /// The grammar-visible tokens (neither special nor stop), sorted by their bytes.
    let sortedIds: [Int32]
    /// For `sortedIds[i]`, the number of leading bytes it shares with `sortedIds[i - 1]` (0 for i = 0).
    let sharedPrefix: [Int32]
    /// The bytes of the sorted tokens again, in their order (a walk over the trie reads them
    /// front to back): `sortedIds[i]` is `sortedBytes[sortedStarts[i]..<sortedStarts[i + 1]]`.
    let sortedBytes: [UInt8]
    let sortedStarts: [Int32]
    /// For sorted token `i`, the first `j > i` whose token does not start with token `i`'s bytes:
    /// `i..<subtreeEnd[i]` is its subtree in the trie, skipped at once when its prefix dies.
    let subtreeEnd: [Int32]
    /// The longest of the sorted tokens, in bytes.
    let maxTokenLength: Int
    /// Per id: 0 for a grammar-visible token, 1 for a stop token, 2 for a token never allowed.
    let kinds: [UInt8]

    /// Reads the pieces, token types and end-of-generation tokens of `tokenizer`.
    public convenience init(tokenizer: Tokenizer) {
        let vocabulary = tokenizer.vocabulary
        var special = Set<Int>()
        for (id, type) in vocabulary.tokenTypes.enumerated() {
            switch type {
            case .control, .unknown, .unused: special.insert(id)
            default: break
            }
        }
        var stops = vocabulary.endOfGenerationIds
        if let eos = vocabulary.eosTokenId { stops.insert(eos) }
        let pieces = (0..<vocabulary.count).map { tokenizer.tokenPiece($0) }
        self.init(tokenBytes: pieces, specialTokenIds: special, stopTokenIds: stops)
    }

    /// A vocabulary from raw token bytes (`tokenBytes[id]`), for tests and other tokenizers.
    ///
    /// - Parameters:
    ///   - specialTokenIds: tokens no grammar allows (empty pieces are added automatically).
    ///   - stopTokenIds: tokens that end generation; a stop token is never treated as special.
    ///     Ids outside the vocabulary are ignored.
    public init(tokenBytes: [[UInt8]], specialTokenIds: Set<Int> = [], stopTokenIds: Set<Int> = []) {
        vocabSize = tokenBytes.count
        var flat: [UInt8] = []
        flat.reserveCapacity(tokenBytes.reduce(0) { $0 + $1.count })
        var starts: [Int32] = [0]
        starts.reserveCapacity(vocabSize + 1)
        for piece in tokenBytes {
            flat.append(contentsOf: piece)
            starts.append(Int32(flat.count))
        }
        var kinds = [UInt8](repeating: 0, count: vocabSize)
        for id in specialTokenIds where id >= 0 && id < vocabSize { kinds[id] = 2 }
        for (id, piece) in tokenBytes.enumerated() where piece.isEmpty { kinds[id] = 2 }
        for id in stopTokenIds where id >= 0 && id < vocabSize { kinds[id] = 1 }
        self.kinds = kinds
        self.stopTokenIds = (0..<vocabSize).filter { kinds[$0] == 1 }
        self.specialTokenIds = (0..<vocabSize).filter { kinds[$0] == 2 }

        let visible = (0..<vocabSize).filter { kinds[$0] == 0 }
        let sorted = visible.sorted { a, b in
            tokenBytes[a].lexicographicallyPrecedes(tokenBytes[b]) || (tokenBytes[a] == tokenBytes[b] && a < b)
        }
        var shared = [Int32](repeating: 0, count: sorted.count)
        for i in 1..<max(sorted.count, 1) {
            let a = tokenBytes[sorted[i - 1]], b = tokenBytes[sorted[i]]
            var n = 0
            while n < a.count && n < b.count && a[n] == b[n] { n += 1 }
            shared[i] = Int32(n)
        }
        sortedIds = sorted.map { Int32($0) }
        sharedPrefix = shared
        var sortedBytes: [UInt8] = [], sortedStarts: [Int32] = [0]
        sortedBytes.reserveCapacity(flat.count)
        sortedStarts.reserveCapacity(sorted.count + 1)
        for id in sorted {
            sortedBytes.append(contentsOf: tokenBytes[id])
            sortedStarts.append(Int32(sortedBytes.count))
        }
        self.sortedBytes = sortedBytes
        self.sortedStarts = sortedStarts
        var subtreeEnd = [Int32](repeating: 0, count: sorted.count)
        for i in stride(from: sorted.count - 1, through: 0, by: -1) {
            let length = tokenBytes[sorted[i]].count
            var j = i + 1
            while j < sorted.count && Int(shared[j]) >= length { j = Int(subtreeEnd[j]) }
            subtreeEnd[i] = Int32(j)
        }
        self.subtreeEnd = subtreeEnd
        maxTokenLength = sorted.map { tokenBytes[$0].count }.max() ?? 0
        bytes = flat
        self.starts = starts
    }

    /// The raw bytes of token `id` (possibly part of a UTF-8 character); empty outside the vocabulary.
    public func tokenBytes(_ id: Int) -> ArraySlice<UInt8> {
        guard id >= 0 && id < vocabSize else { return [] }
        return bytes[Int(starts[id])..<Int(starts[id + 1])]
    }

    /// Whether `id` ends generation.
    public func isStopToken(_ id: Int) -> Bool { id >= 0 && id < vocabSize && kinds[id] == 1 }

    /// Whether no grammar ever allows `id` (control, unknown, unused, empty, or outside the vocabulary).
    public func isSpecialToken(_ id: Int) -> Bool { !(id >= 0 && id < vocabSize) || kinds[id] == 2 }

    /// The number of tokens a grammar may allow (neither special nor stop tokens).
    public var grammarTokenCount: Int { sortedIds.count }
}
