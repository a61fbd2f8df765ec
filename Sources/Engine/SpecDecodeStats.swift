/// Speculative decoding counters (vLLM's `spec_decode` metrics): drafts verified, draft tokens,
/// accepted tokens, and accepted tokens by position in the draft.
public struct SpecDecodeStats: Sendable, Equatable {
    /// Verifications of a non-empty draft.
    public var numDrafts = 0
    public var numDraftTokens = 0
    public var numAcceptedTokens = 0
    /// `acceptedPerPosition[i]`: drafts whose token at position i was accepted.
    public var acceptedPerPosition: [Int] = []

    public init() {}

    /// Share of draft tokens accepted.
    public var acceptanceRate: Double { numDraftTokens == 0 ? 0 : Double(numAcceptedTokens) / Double(numDraftTokens) }
    /// Tokens each verification produced on average: the accepted drafts plus the target's own.
    public var meanAcceptanceLength: Double { numDrafts == 0 ? 0 : 1 + Double(numAcceptedTokens) / Double(numDrafts) }

    mutating func record(drafted: Int, accepted: Int) {
        numDrafts += 1
        numDraftTokens += drafted
        numAcceptedTokens += accepted
        if acceptedPerPosition.count < drafted { acceptedPerPosition += repeatElement(0, count: drafted - acceptedPerPosition.count) }
        for i in 0..<accepted { acceptedPerPosition[i] += 1 }
    }
}
