/// Suffix decoding (Arctic Inference, vLLM's `suffix` method): drafts come from a suffix tree of
/// the request's own tokens and from a global suffix tree of recently finished responses,
/// whichever path scores higher.
///
/// Each request's tree grows by the tokens it gained since the last ``propose(_:)``; it is dropped
/// when the request finishes, and the request's response (its tokens after the prompt) joins the
/// global tree, which keeps the latest `maxCachedRequests` responses.
public final class SuffixProposer: SpeculativeProposer {
    /// Deepest tree path: the longest context matched plus draft continued (`suffix_decoding_max_tree_depth`).
    public let maxTreeDepth: Int
    /// Responses kept in the global tree; 0 turns it off (`suffix_decoding_max_cached_requests`).
    public let maxCachedRequests: Int
    /// Most draft tokens per matched context token (`suffix_decoding_max_spec_factor`).
    public let maxSpecFactor: Float
    /// Least estimated probability of a drafted token (`suffix_decoding_min_token_prob`).
    public let minTokenProbability: Float
    /// Most tokens per draft, whatever a request asks for.
    public let maxDraftTokens: Int

    private final class RequestIndex {
        var tree: SuffixTree
        /// How many of the request's tokens `tree` holds, and the last of them.
        var indexed = 0
        var lastToken = 0

        init(maxDepth: Int) { tree = SuffixTree(maxDepth: maxDepth) }
    }

    private var requests: [String: RequestIndex] = [:]
    private var global: SuffixTree
    /// The responses in `global`, oldest first from `oldestResponse`.
    private var responses: [[Int32]] = []
    private var oldestResponse = 0

    /// - Precondition: `maxTreeDepth >= 1`, `maxCachedRequests >= 0`, `maxSpecFactor > 0`,
    ///   `maxDraftTokens >= 0`.
    public init(maxTreeDepth: Int, maxCachedRequests: Int, maxSpecFactor: Float, minTokenProbability: Float,
                maxDraftTokens: Int) {
        precondition(maxTreeDepth >= 1, "maxTreeDepth must be at least 1")
        precondition(maxCachedRequests >= 0, "maxCachedRequests must not be negative")
        precondition(maxSpecFactor > 0, "maxSpecFactor must be positive")
        precondition(maxDraftTokens >= 0, "maxDraftTokens must not be negative")
        self.maxTreeDepth = maxTreeDepth
        self.maxCachedRequests = maxCachedRequests
        self.maxSpecFactor = maxSpecFactor
        self.minTokenProbability = minTokenProbability
        self.maxDraftTokens = maxDraftTokens
        global = SuffixTree(maxDepth: maxTreeDepth)
    }

    /// The `suffix_decoding_*` settings and `num_speculative_tokens` of `config`.
    public convenience init(config: SpeculativeConfig) {
        self.init(maxTreeDepth: config.suffixMaxTreeDepth, maxCachedRequests: config.suffixMaxCachedRequests,
                  maxSpecFactor: config.suffixMaxSpecFactor, minTokenProbability: config.suffixMinTokenProbability,
                  maxDraftTokens: config.numSpeculativeTokens)
    }

    public func propose(_ requests: [ProposalRequest]) -> [Proposal] {
        requests.map(propose)
    }

    public func requestFinished(_ requestId: String, tokenIds: [Int], numPromptTokens: Int) {
        requests[requestId] = nil
        guard maxCachedRequests > 0, numPromptTokens < tokenIds.count else { return }
        let response = tokenIds[max(numPromptTokens, 0)...].map { Int32(truncatingIfNeeded: $0) }
        global.insert(response)
        responses.append(response)
        while responses.count - oldestResponse > maxCachedRequests {
            global.remove(responses[oldestResponse])
            responses[oldestResponse] = []
            oldestResponse += 1
        }
        if oldestResponse >= 1024 && oldestResponse * 2 >= responses.count {
            responses.removeFirst(oldestResponse)
            oldestResponse = 0
        }
    }

    private func propose(_ request: ProposalRequest) -> Proposal {
        let tokens = request.tokenIds
        let index = indexed(request)
        let maxTokens = min(request.maxDraftTokens, maxDraftTokens)
        guard maxTokens > 0, !tokens.isEmpty else { return .none }
        let own = index.tree.speculate(context: tokens, maxTokens: maxTokens, maxSpecFactor: maxSpecFactor,
                                       minTokenProbability: minTokenProbability)
        var best = own
        if maxCachedRequests > 0 {
            let shared = global.speculate(context: tokens, maxTokens: maxTokens, maxSpecFactor: maxSpecFactor,
                                          minTokenProbability: minTokenProbability)
            if shared.score > own.score { best = shared }
        }
        return best.tokens.isEmpty ? .none : Proposal(tokenIds: best.tokens)
    }

    /// The request's tree, brought up to date with its tokens; rebuilt where they no longer
    /// extend what was indexed.
    private func indexed(_ request: ProposalRequest) -> RequestIndex {
        let tokens = request.tokenIds
        var index = requests[request.requestId]
        if let existing = index, existing.indexed > tokens.count
            || existing.indexed > 0 && tokens[existing.indexed - 1] != existing.lastToken {
            index = nil
        }
        let current = index ?? RequestIndex(maxDepth: maxTreeDepth)
        if index == nil { requests[request.requestId] = current }
        for token in tokens[current.indexed...] { current.tree.append(Int32(truncatingIfNeeded: token)) }
        current.indexed = tokens.count
        current.lastToken = tokens.last ?? 0
        return current
    }

    /// Nodes in use in the global tree (root included), for tests.
    var globalNodeCount: Int { global.liveNodeCount }
    /// Requests with a tree, for tests.
    var trackedRequestCount: Int { requests.count }
}
