/// Prompt lookup decoding (vLLM's `NgramProposer`): the draft is what followed the most recent
/// earlier occurrence of the longest tail n-gram, for n from `maxN` down to `minN`.
///
/// Stateless between steps; one backward scan per request, without allocation until the draft.
public final class NgramProposer: SpeculativeProposer {
    /// Shortest tail n-gram that may match.
    public let minN: Int
    /// Longest tail n-gram tried first.
    public let maxN: Int
    /// Most tokens per draft, whatever a request asks for.
    public let maxDraftTokens: Int

    /// - Precondition: `1 <= minN <= maxN`, `maxDraftTokens >= 0`.
    public init(minN: Int, maxN: Int, maxDraftTokens: Int) {
        precondition(minN >= 1 && maxN >= minN, "n-gram sizes need 1 <= minN <= maxN")
        precondition(maxDraftTokens >= 0, "maxDraftTokens must not be negative")
        self.minN = minN
        self.maxN = maxN
        self.maxDraftTokens = maxDraftTokens
    }

    /// `prompt_lookup_min`, `prompt_lookup_max` and `num_speculative_tokens` of `config`.
    public convenience init(config: SpeculativeConfig) {
        self.init(minN: config.promptLookupMin, maxN: config.promptLookupMax,
                  maxDraftTokens: config.numSpeculativeTokens)
    }

    public func propose(_ requests: [ProposalRequest]) -> [Proposal] {
        requests.map { request in
            let draft = Self.lookup(request.tokenIds, minN: minN, maxN: maxN,
                                    maxTokens: min(request.maxDraftTokens, maxDraftTokens))
            return draft.isEmpty ? .none : Proposal(tokenIds: draft)
        }
    }

    public func requestFinished(_ requestId: String, tokenIds: [Int], numPromptTokens: Int) {}

    /// The continuation (at most `maxTokens`) of the latest earlier occurrence of the longest tail
    /// n-gram with `minN <= n <= maxN`; empty where none occurs.
    static func lookup(_ tokens: [Int], minN: Int, maxN: Int, maxTokens: Int) -> [Int] {
        let count = tokens.count
        guard maxTokens > 0, count > minN else { return [] }
        let (end, length) = tokens.withUnsafeBufferPointer { t -> (Int, Int) in
            let last = t[count - 1]
            var bestEnd = -1, bestLength = 0
            // Every candidate occurrence ends at some q < count - 1; scanning q downwards, the
            // first q reaching a longer match is the latest occurrence of that n-gram.
            var q = count - 2
            while q >= 0 {
                if t[q] == last {
                    let limit = min(maxN, q + 1)
                    var length = 1
                    while length < limit && t[q - length] == t[count - 1 - length] { length += 1 }
                    if length > bestLength {
                        bestLength = length
                        bestEnd = q
                        if length == maxN { break }
                    }
                }
                q -= 1
            }
            return (bestEnd, bestLength)
        }
        guard length >= minN else { return [] }
        return Array(tokens[(end + 1)..<min(end + 1 + maxTokens, count)])
    }
}
