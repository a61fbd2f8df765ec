/// What a proposer sees of one running request when the engine asks it for draft tokens.
public struct ProposalRequest: Sendable {
    public var requestId: String
    /// Every known token: the prompt, then the output so far.
    public var tokenIds: [Int]
    public var numPromptTokens: Int
    /// Most draft tokens wanted now (the engine's adaptive length, ≥ 1).
    public var maxDraftTokens: Int
    /// The request's sampling temperature (0: greedy); a draft model samples its tokens with it.
    public var temperature: Float

    public init(requestId: String, tokenIds: [Int], numPromptTokens: Int, maxDraftTokens: Int, temperature: Float = 0) {
        self.requestId = requestId
        self.tokenIds = tokenIds
        self.numPromptTokens = numPromptTokens
        self.maxDraftTokens = maxDraftTokens
        self.temperature = temperature
    }
}

/// A proposer's guess at a request's next tokens.
public struct Proposal: Sendable, Equatable {
    public var tokenIds: [Int]
    /// The draft distribution each token was drawn from (`vocabSize` floats each), where the
    /// proposer has one (a draft model sampling); nil means each token is a point mass, as for
    /// n-gram and suffix proposals and greedy drafts.
    public var probabilities: [[Float]]?

    public init(tokenIds: [Int] = [], probabilities: [[Float]]? = nil) {
        self.tokenIds = tokenIds
        self.probabilities = probabilities
    }

    public static let none = Proposal()
}

/// Proposes draft tokens that the target model then verifies in one forward pass (vLLM V1's
/// proposers: n-gram, suffix, draft model, MTP). A proposer may keep per-request state; the
/// engine tells it when a request leaves.
public protocol SpeculativeProposer: AnyObject {
    /// Draft tokens for each request, in order (an empty proposal where it has no guess).
    func propose(_ requests: [ProposalRequest]) -> [Proposal]
    /// The request finished or was aborted, with all its tokens; per-request state can go (a
    /// suffix proposer keeps the response for later requests).
    func requestFinished(_ requestId: String, tokenIds: [Int], numPromptTokens: Int)
}
