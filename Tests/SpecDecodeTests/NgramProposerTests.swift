@testable import SpecDecode
import Testing
import TestSupport

@Suite struct NgramProposerTests {
    func draft(_ tokens: [Int], minN: Int = 1, maxN: Int = 4, maxDraft: Int = 5, asked: Int = 16) -> [Int] {
        let proposer = NgramProposer(minN: minN, maxN: maxN, maxDraftTokens: maxDraft)
        let proposals = proposer.propose([ProposalRequest(requestId: "r", tokenIds: tokens, numPromptTokens: 1,
                                                          maxDraftTokens: asked)])
        #expect(proposals.count == 1)
        #expect(proposals[0].probabilities == nil)
        return proposals[0].tokenIds
    }

    /// The brief's definition, literally: for n from maxN down, the latest earlier occurrence.
    static func reference(_ t: [Int], minN: Int, maxN: Int, maxTokens: Int) -> [Int] {
        guard maxTokens > 0 else { return [] }
        for n in stride(from: maxN, through: minN, by: -1) where n < t.count {
            let tail = Array(t[(t.count - n)...])
            for start in stride(from: t.count - n - 1, through: 0, by: -1) where Array(t[start..<(start + n)]) == tail {
                return Array(t[(start + n)..<min(start + n + maxTokens, t.count)])
            }
        }
        return []
    }

    @Test func prefersTheLongerNgram() {
        // Tail [1, 2, 3]: the trigram occurred once (followed by 40), the unigram 3 more recently (followed by 50).
        let tokens = [1, 2, 3, 40, 41, 9, 3, 50, 51, 1, 2, 3]
        #expect(draft(tokens, maxDraft: 2) == [40, 41])
        #expect(draft(tokens, maxN: 1, maxDraft: 2) == [50, 51])
    }

    @Test func takesTheMostRecentOccurrence() {
        // [7, 8] is followed by 1 at index 2 and by 2 at index 6; no longer tail recurs.
        let tokens = [7, 8, 1, 5, 7, 8, 2, 6, 7, 8]
        #expect(draft(tokens, maxDraft: 3) == [2, 6, 7])
    }

    @Test func truncatesAtTheEndOfTheSequence() {
        // The latest occurrence of [5, 6] is followed only by [5, 6] itself (overlapping the tail).
        #expect(draft([5, 6, 5, 6], maxDraft: 5) == [5, 6])
        #expect(draft([4, 4, 4], maxN: 3, maxDraft: 5) == [4])
    }

    @Test func noMatchIsNone() {
        let proposer = NgramProposer(minN: 1, maxN: 4, maxDraftTokens: 5)
        let proposals = proposer.propose([
            ProposalRequest(requestId: "a", tokenIds: [1, 2, 3, 4], numPromptTokens: 4, maxDraftTokens: 5),
            ProposalRequest(requestId: "b", tokenIds: [], numPromptTokens: 0, maxDraftTokens: 5),
            ProposalRequest(requestId: "c", tokenIds: [3], numPromptTokens: 1, maxDraftTokens: 5),
        ])
        #expect(proposals == [.none, .none, .none])
    }

    @Test func respectsMinAndMaxN() {
        // Only the unigram [3] recurs: minN 2 finds nothing.
        let tokens = [3, 10, 11, 2, 3]
        #expect(draft(tokens, minN: 1) == [10, 11, 2, 3])
        #expect(draft(tokens, minN: 2).isEmpty)
        // A 5-gram match exists, but with maxN 2 the latest bigram [4, 5] wins.
        let long = [1, 2, 3, 4, 5, 60, 0, 4, 5, 70, 0, 1, 2, 3, 4, 5]
        #expect(draft(long, maxN: 5, maxDraft: 1) == [60])
        #expect(draft(long, maxN: 2, maxDraft: 1) == [70])
    }

    @Test func capsTheDraftAtTheSmallerLimit() {
        let tokens = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2]
        #expect(draft(tokens, maxDraft: 3, asked: 16) == [3, 4, 5])
        #expect(draft(tokens, maxDraft: 5, asked: 2) == [3, 4])
        #expect(draft(tokens, maxDraft: 0, asked: 2).isEmpty)
    }

    @Test func configSetsTheLimits() throws {
        var config = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 3)
        config.promptLookupMin = 2
        config.promptLookupMax = 6
        let proposer = NgramProposer(config: config)
        #expect(proposer.minN == 2 && proposer.maxN == 6 && proposer.maxDraftTokens == 3)
    }

    @Test func matchesTheReferenceOnRandomSequences() {
        var random = SeededRandom(seed: 11)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...60, using: &random)
            let alphabet = Int.random(in: 1...6, using: &random)
            let tokens = (0..<length).map { _ in Int.random(in: 0..<alphabet, using: &random) }
            let minN = Int.random(in: 1...4, using: &random)
            let maxN = Int.random(in: minN...6, using: &random)
            let maxDraft = Int.random(in: 0...6, using: &random)
            let asked = Int.random(in: 1...6, using: &random)
            let expected = Self.reference(tokens, minN: minN, maxN: maxN, maxTokens: min(maxDraft, asked))
            #expect(draft(tokens, minN: minN, maxN: maxN, maxDraft: maxDraft, asked: asked) == expected,
                    "\(tokens) n \(minN)...\(maxN) k \(min(maxDraft, asked))")
        }
    }
}
