/// Byte-level BPE over one pre-tokenized word, as llama.cpp's `llm_tokenizer_bpe_session`.
///
/// A word starts as one symbol per byte (the byte's ``ByteLevelMapping`` character). The adjacent
/// pair with the lowest merge rank is merged, leftmost first among equal ranks, until no pair has
/// a rank. Symbols are numbered once, at load time: every token text is a symbol, and merge
/// results or byte characters missing from the vocabulary get numbers past the last token. A
/// final symbol that is not a token is replaced, as in llama.cpp, by the tokens for the ASCII
/// bytes of its text.
struct BytePairEncoder: Sendable {
    /// The symbol each byte starts as.
    private let byteSymbols: [Int32]
    /// `left << 32 | right` → `rank << 32 | merged`, from `tokenizer.ggml.merges` (first wins).
    private let merges: [UInt64: UInt64]
    private let vocabularySize: Int
    /// For each symbol numbered past the vocabulary: the tokens emitted in its place.
    private let fallbacks: [[Int]]
    /// Raw bytes → token, for pre-tokenizers that skip merging for words found whole.
    private let wholeWords: ByteStringTable?

    init(vocabulary: Vocabulary) {
        let n = vocabulary.count
        vocabularySize = n
        var symbolByText: [String: Int32] = [:]
        symbolByText.reserveCapacity(n + 256)
        for (id, text) in vocabulary.tokens.enumerated() { symbolByText[text] = Int32(id) }
        let tokenByText = symbolByText
        var extraTexts: [String] = []
        func symbol(_ text: String) -> Int32 {
            if let s = symbolByText[text] { return s }
            let s = Int32(n + extraTexts.count)
            extraTexts.append(text)
            symbolByText[text] = s
            return s
        }
        byteSymbols = ByteLevelMapping.byteToScalar.map { symbol(String($0)) }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(vocabulary.merges.count)
        for (rank, merge) in vocabulary.merges.enumerated() {
            let key = UInt64(UInt32(symbol(merge.left))) << 32 | UInt64(UInt32(symbol(merge.right)))
            if merges[key] == nil {
                merges[key] = UInt64(rank) << 32 | UInt64(UInt32(symbol(merge.left + merge.right)))
            }
        }
        self.merges = merges
        fallbacks = extraTexts.map { text in
            text.utf8.compactMap { byte in
                byte < 0x80 ? tokenByText[String(UnicodeScalar(byte))].map(Int.init) : nil
            }
        }
        if vocabulary.preTokenizer.ignoresMerges {
            var table = ByteStringTable(capacity: n)
            for (id, text) in vocabulary.tokens.enumerated() {
                if let bytes = ByteLevelMapping.decode(text) { table.insert(bytes, id: id) }
            }
            wholeWords = table
        } else {
            wholeWords = nil
        }
    }

    /// Working storage reused across the words of one encoding call.
    struct Scratch {
        var symbols: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var queue = MergeQueue<Candidate>()
    }

    /// A mergeable adjacent pair, ordered by rank and then position.
    struct Candidate: Comparable {
        var rank: Int32
        var left: Int32
        var right: Int32
        var leftSymbol: Int32
        var rightSymbol: Int32
        var merged: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.left < b.left
        }
    }

    /// Appends the tokens of `word` (raw bytes) to `output`.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into output: inout [Int], scratch: inout Scratch) {
        let n = word.count
        guard n > 0 else { return }
        if let wholeWords, let id = wholeWords.id(for: word) {
            output.append(id)
            return
        }
        if n == 1 {
            emit(byteSymbols[Int(word[0])], into: &output)
            return
        }
        scratch.symbols.removeAll(keepingCapacity: true)
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.queue.removeAll()
        for i in 0..<n {
            scratch.symbols.append(byteSymbols[Int(word[i])])
            scratch.previous.append(Int32(i - 1))
            scratch.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 1..<n { addCandidate(Int32(i - 1), Int32(i), &scratch) }

        while let c = scratch.queue.pop() {
            let left = Int(c.left), right = Int(c.right)
            // Stale: one side has been merged away or has grown since the pair was queued.
            guard scratch.symbols[left] == c.leftSymbol, scratch.symbols[right] == c.rightSymbol else { continue }
            scratch.symbols[left] = c.merged
            scratch.symbols[right] = -1
            let after = scratch.next[right]
            scratch.next[left] = after
            if after >= 0 { scratch.previous[Int(after)] = c.left }
            let before = scratch.previous[left]
            if before >= 0 { addCandidate(before, c.left, &scratch) }
            if after >= 0 { addCandidate(c.left, after, &scratch) }
        }

        var i: Int32 = 0
        while i >= 0 {
            emit(scratch.symbols[Int(i)], into: &output)
            i = scratch.next[Int(i)]
        }
    }

    private func addCandidate(_ left: Int32, _ right: Int32, _ scratch: inout Scratch) {
        let l = scratch.symbols[Int(left)], r = scratch.symbols[Int(right)]
        guard let entry = merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))] else { return }
        scratch.queue.push(Candidate(
            rank: Int32(truncatingIfNeeded: entry >> 32), left: left, right: right,
            leftSymbol: l, rightSymbol: r, merged: Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)))
    }

    private func emit(_ symbol: Int32, into output: inout [Int]) {
        let s = Int(symbol)
        if s < vocabularySize {
            output.append(s)
        } else {
            output.append(contentsOf: fallbacks[s - vocabularySize])
        }
    }
}
