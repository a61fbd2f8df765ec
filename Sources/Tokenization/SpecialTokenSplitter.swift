/// A part of the input after special tokens have been found in it.
enum Fragment: Equatable {
    /// Plain text, as a byte range of the input, still to be tokenized.
    case text(Range<Int>)
    /// A special token found in the input.
    case token(Int)
}

/// Finds the texts of special tokens in input before tokenization, as llama.cpp's
/// `tokenizer_st_partition` does.
///
/// Special tokens are the control, user-defined and unknown tokens. llama.cpp takes them one at a
/// time, longest text first, and cuts every occurrence (leftmost first, not overlapping) out of the
/// text not yet cut. So a longer token wins over a shorter one wherever they overlap, even if the
/// shorter starts earlier. User-defined tokens are always recognised; control and unknown tokens
/// only when special tokens are parsed.
///
/// Equivalent and faster: one pass with a trie collects every occurrence of every token; then,
/// token by token in that order, occurrences are accepted left to right when they neither overlap
/// this token's previous match nor any byte already cut.
struct SpecialTokenSplitter: Sendable {
    /// Special tokens in llama.cpp's order: longer texts first, then lower ids.
    private let tokens: [(id: Int, text: [UInt8])]
    /// Trie edges: `node << 8 | byte` → child node. Node 0 is the root.
    private let children: [Int: Int32]
    /// Per trie node: the first token (index into `tokens`) whose text ends there, or -1.
    private let anyTokenAt: [Int32]
    /// Per trie node: the first user-defined token whose text ends there, or -1.
    private let userDefinedTokenAt: [Int32]
    /// Whether some special token starts with this byte.
    private let isFirstByte: [Bool]
    private let hasUserDefined: Bool

    init(vocabulary: Vocabulary) {
        var order: [(id: Int, text: [UInt8], userDefined: Bool)] = []
        for (id, type) in vocabulary.tokenTypes.enumerated() where type.isSpecial {
            let text = Array(vocabulary.tokens[id].utf8)
            if !text.isEmpty { order.append((id, text, type == .userDefined)) }
        }
        order.sort { $0.text.count != $1.text.count ? $0.text.count > $1.text.count : $0.id < $1.id }
        tokens = order.map { ($0.id, $0.text) }

        var children: [Int: Int32] = [:]
        var anyTokenAt: [Int32] = [-1]
        var userDefinedTokenAt: [Int32] = [-1]
        var isFirstByte = [Bool](repeating: false, count: 256)
        for (index, token) in order.enumerated() {
            isFirstByte[Int(token.text[0])] = true
            var node = 0
            for byte in token.text {
                let key = node << 8 | Int(byte)
                if let child = children[key] {
                    node = Int(child)
                } else {
                    children[key] = Int32(anyTokenAt.count)
                    node = anyTokenAt.count
                    anyTokenAt.append(-1)
                    userDefinedTokenAt.append(-1)
                }
            }
            if anyTokenAt[node] < 0 { anyTokenAt[node] = Int32(index) }
            if token.userDefined && userDefinedTokenAt[node] < 0 { userDefinedTokenAt[node] = Int32(index) }
        }
        self.children = children
        self.anyTokenAt = anyTokenAt
        self.userDefinedTokenAt = userDefinedTokenAt
        self.isFirstByte = isFirstByte
        hasUserDefined = order.contains { $0.userDefined }
    }

    /// Cuts `bytes` into text and special-token fragments, in input order. Empty input gives none.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        let n = bytes.count
        guard n > 0 else { return [] }
        guard parseSpecial || hasUserDefined, !tokens.isEmpty else { return [.text(0..<n)] }
        let tokenAt = parseSpecial ? anyTokenAt : userDefinedTokenAt

        var occurrences: [(token: Int32, start: Int)] = []
        for start in 0..<n where isFirstByte[Int(bytes[start])] {
            var node = 0
            var i = start
            while i < n, let child = children[node << 8 | Int(bytes[i])] {
                node = Int(child)
                i += 1
                if tokenAt[node] >= 0 { occurrences.append((tokenAt[node], start)) }
            }
        }
        guard !occurrences.isEmpty else { return [.text(0..<n)] }
        occurrences.sort { $0.token != $1.token ? $0.token < $1.token : $0.start < $1.start }

        var cut = [Bool](repeating: false, count: n)
        var matches: [(range: Range<Int>, id: Int)] = []
        var currentToken: Int32 = -1
        var previousEnd = 0
        for occurrence in occurrences {
            if occurrence.token != currentToken {
                currentToken = occurrence.token
                previousEnd = 0
            }
            let range = occurrence.start..<(occurrence.start + tokens[Int(occurrence.token)].text.count)
            guard range.lowerBound >= previousEnd, !range.contains(where: { cut[$0] }) else { continue }
            for i in range { cut[i] = true }
            matches.append((range, tokens[Int(occurrence.token)].id))
            previousEnd = range.upperBound
        }
        matches.sort { $0.range.lowerBound < $1.range.lowerBound }

        var fragments: [Fragment] = []
        var position = 0
        for match in matches {
            if match.range.lowerBound > position { fragments.append(.text(position..<match.range.lowerBound)) }
            fragments.append(.token(match.id))
            position = match.range.upperBound
        }
        if position < n { fragments.append(.text(position..<n)) }
        return fragments
    }
}
