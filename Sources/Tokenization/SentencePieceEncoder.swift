/// SentencePiece BPE over one text fragment, as llama.cpp's `llm_tokenizer_spm_session`.
///
/// Spaces become `▁` (U+2581), optionally with one put in front. The text starts as one symbol
/// per character; the adjacent pair whose concatenation is a token with the highest score is
/// merged, leftmost first among equal scores, until no pair forms a token. A final symbol that
/// is not a token is spelled with byte tokens `<0xNN>`; a byte without one becomes the unknown token.
struct SentencePieceEncoder: Sendable {
    private let pieces: ByteStringTable
    private let scores: [Float]
    /// The byte-fallback token of each byte, -1 if the vocabulary has none.
    private let byteTokens: [Int32]
    private let unknownTokenId: Int?

    init(vocabulary: Vocabulary) {
        var pieces = ByteStringTable(capacity: vocabulary.count)
        for (id, text) in vocabulary.tokens.enumerated() { pieces.insert(text.utf8, id: id) }
        self.pieces = pieces
        scores = vocabulary.scores
        let digits = Array("0123456789ABCDEF".utf8)
        byteTokens = (0..<256).map { byte in
            let name = [UInt8(ascii: "<"), UInt8(ascii: "0"), UInt8(ascii: "x"), digits[byte >> 4], digits[byte & 15], UInt8(ascii: ">")]
            if let id = pieces.id(for: name) { return Int32(id) }
            if byte < 0x80, let id = pieces.id(for: [UInt8(byte)]) { return Int32(id) }
            return -1
        }
        unknownTokenId = vocabulary.unknownTokenId
    }

    /// A pair whose concatenation is a token, ordered by score (highest first) and then position.
    struct Candidate: Comparable {
        var score: Float
        var left: Int32
        var right: Int32
        var length: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            a.score != b.score ? a.score > b.score : a.left < b.left
        }
    }

    /// Appends the tokens of `text` to `output`, with a leading `▁` when `spacePrefix`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, spacePrefix: Bool, into output: inout [Int]) {
        let space: [UInt8] = [0xE2, 0x96, 0x81]
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.count + 8)
        if spacePrefix { escaped.append(contentsOf: space) }
        for byte in text {
            if byte == 0x20 { escaped.append(contentsOf: space) } else { escaped.append(byte) }
        }
        guard !escaped.isEmpty else { return }
        escaped.withUnsafeBufferPointer { encodeEscaped($0, into: &output) }
    }

    private func encodeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        let units = TextUnits(bytes, classify: false)
        let n = units.count
        // A merged symbol keeps its left part's start; only lengths change.
        let start = Array(units.offsets.dropLast())
        var length = (0..<n).map { units.offsets[$0 + 1] - units.offsets[$0] }
        var previous = (0..<n).map { Int32($0 - 1) }
        var next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
        var queue = MergeQueue<Candidate>()

        func addCandidate(_ left: Int32, _ right: Int32) {
            let l = Int(left), r = Int(right)
            let size = length[l] + length[r]
            guard let id = pieces.id(for: UnsafeBufferPointer(rebasing: bytes[start[l]..<(start[l] + size)])) else { return }
            queue.push(Candidate(score: scores[id], left: left, right: right, length: Int32(size)))
        }

        for i in stride(from: 1, to: n, by: 1) { addCandidate(Int32(i - 1), Int32(i)) }
        while let c = queue.pop() {
            let left = Int(c.left), right = Int(c.right)
            guard length[left] > 0, length[right] > 0, length[left] + length[right] == Int(c.length) else { continue }
            length[left] += length[right]
            length[right] = 0
            let after = next[right]
            next[left] = after
            if after >= 0 { previous[Int(after)] = c.left }
            if previous[left] >= 0 { addCandidate(previous[left], c.left) }
            if after >= 0 { addCandidate(c.left, after) }
        }

        var i = 0
        while i >= 0 {
            let piece = UnsafeBufferPointer(rebasing: bytes[start[i]..<(start[i] + length[i])])
            if let id = pieces.id(for: piece) {
                output.append(id)
            } else {
                for byte in piece {
                    let id = byteTokens[Int(byte)]
                    if id >= 0 {
                        output.append(Int(id))
                    } else if let unknownTokenId {
                        output.append(unknownTokenId)
                    }
                }
            }
            i = Int(next[i])
        }
    }
}
