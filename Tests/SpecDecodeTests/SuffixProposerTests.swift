@testable import SpecDecode
import Testing
import TestSupport

/// Suffix decoding by brute force: counts continuations by scanning the sequences, no tree.
struct SuffixReference {
    var depth: Int
    var maxCachedRequests: Int
    var specFactor: Float
    var minProbability: Float
    var maxDraftTokens: Int

    /// The best greedy draft over all match lengths, scored as the proposer documents it.
    func speculate(_ sequences: [[Int]], context: [Int], maxTokens: Int) -> (tokens: [Int], score: Float) {
        var best: [Int] = [], bestScore: Float = 0
        guard maxTokens > 0 else { return (best, bestScore) }
        for m in stride(from: 1, through: min(depth, context.count), by: 1) {
            var path = Array(context.suffix(m))
            guard sequences.contains(where: { Self.occurs(path, in: $0) }) else { break }
            let cap = min(maxTokens, Int((Float(m) * specFactor).rounded(.up)))
            var draft: [Int] = [], probability: Float = 1, score: Float = 0
            while draft.count < cap && path.count < depth {
                var counts: [Int: Int] = [:]
                for sequence in sequences where sequence.count > path.count {
                    for start in 0..<(sequence.count - path.count) where Array(sequence[start..<(start + path.count)]) == path {
                        counts[sequence[start + path.count], default: 0] += 1
                    }
                }
                let total = counts.values.reduce(0, +)
                guard let (token, count) = counts.max(by: { $0.value < $1.value || $0.value == $1.value && $0.key > $1.key })
                else { break }
                probability *= Float(count) / Float(total)
                if probability < minProbability { break }
                draft.append(token)
                score += probability
                path.append(token)
            }
            if !draft.isEmpty && score >= bestScore {
                best = draft
                bestScore = score
            }
        }
        return (best, bestScore)
    }

    /// What the proposer should answer for `tokens`, given the cached responses (oldest first).
    func propose(_ tokens: [Int], responses: [[Int]], asked: Int) -> [Int] {
        let maxTokens = min(asked, maxDraftTokens)
        let own = speculate([tokens], context: tokens, maxTokens: maxTokens)
        guard maxCachedRequests > 0 else { return own.tokens }
        let shared = speculate(Array(responses.suffix(maxCachedRequests)), context: tokens, maxTokens: maxTokens)
        return shared.score > own.score ? shared.tokens : own.tokens
    }

    func proposer() -> SuffixProposer {
        SuffixProposer(maxTreeDepth: depth, maxCachedRequests: maxCachedRequests, maxSpecFactor: specFactor,
                       minTokenProbability: minProbability, maxDraftTokens: maxDraftTokens)
    }

    static func occurs(_ path: [Int], in sequence: [Int]) -> Bool {
        guard sequence.count >= path.count else { return false }
        return (0...(sequence.count - path.count)).contains { Array(sequence[$0..<($0 + path.count)]) == path }
    }

    static func random(using random: inout SeededRandom) -> SuffixReference {
        SuffixReference(depth: Int.random(in: 1...8, using: &random),
                        maxCachedRequests: Int.random(in: 0...3, using: &random),
                        specFactor: [0.25, 0.5, 1, 1.5, 3].randomElement(using: &random)!,
                        minProbability: [0, 0.1, 0.3, 0.6, 1].randomElement(using: &random)!,
                        maxDraftTokens: Int.random(in: 1...8, using: &random))
    }
}

@Suite struct SuffixProposerTests {
    func proposer(depth: Int = 24, cached: Int = 0, factor: Float = 1, minProbability: Float = 0.1,
                  maxDraft: Int = 16) -> SuffixProposer {
        SuffixProposer(maxTreeDepth: depth, maxCachedRequests: cached, maxSpecFactor: factor,
                       minTokenProbability: minProbability, maxDraftTokens: maxDraft)
    }

    func draft(_ proposer: SuffixProposer, _ tokens: [Int], id: String = "r", prompt: Int = 1, asked: Int = 16) -> [Int] {
        let proposals = proposer.propose([ProposalRequest(requestId: id, tokenIds: tokens, numPromptTokens: prompt,
                                                          maxDraftTokens: asked)])
        #expect(proposals.count == 1)
        #expect(proposals[0].probabilities == nil)
        return proposals[0].tokenIds
    }

    @Test func proposesAPatternRepeatedInsideTheRequest() {
        let tokens = [1, 2, 3, 4, 5, 9, 1, 2, 3]
        #expect(draft(proposer(), tokens) == [4, 5, 9])
        #expect(draft(proposer(factor: 2), tokens) == [4, 5, 9, 1, 2, 3])
        #expect(draft(proposer(factor: 2, maxDraft: 4), tokens) == [4, 5, 9, 1])
        #expect(draft(proposer(factor: 2), tokens, asked: 2) == [4, 5])
        // The tail only occurs at the very end: nothing to continue.
        #expect(draft(proposer(), [1, 2, 3, 4]).isEmpty)
        #expect(draft(proposer(), []).isEmpty)
    }

    @Test func proposesAFinishedResponseForANewRequest() {
        let suffix = proposer(cached: 10)
        suffix.requestFinished("a", tokenIds: [100, 101, 1, 2, 3, 4, 5, 6], numPromptTokens: 2)
        #expect(suffix.trackedRequestCount == 0)
        #expect(draft(suffix, [50, 1, 2], id: "b") == [3, 4])
        #expect(draft(suffix, [50, 2], id: "c") == [3])
        // The prompt is not part of the response.
        #expect(draft(suffix, [100, 101], id: "d").isEmpty)
        // A finished id seen again starts fresh.
        #expect(draft(suffix, [9, 9, 1, 2, 3], id: "a") == [4, 5, 6])
        #expect(suffix.trackedRequestCount == 4)
    }

    @Test func choosesTheBranchWithTheHigherCount() {
        // 7 is followed by 1 twice, then by 2 (most recently); "7 1 7" by 1 and 2 once each (tie: smaller token).
        let tokens = [7, 1, 7, 1, 7, 2, 9, 7]
        #expect(draft(proposer(), tokens) == [1])
        #expect(draft(proposer(factor: 3), tokens) == [1, 7, 1])
        // The n-gram proposer goes by recency instead.
        let ngram = NgramProposer(minN: 1, maxN: 4, maxDraftTokens: 1)
        #expect(ngram.propose([ProposalRequest(requestId: "n", tokenIds: tokens, numPromptTokens: 1, maxDraftTokens: 1)])
            == [Proposal(tokenIds: [2])])
    }

    @Test func stopsBelowTheMinimumTokenProbability() {
        let tokens = [7, 1, 7, 1, 7, 2, 9, 7]
        // Probabilities 2/3, 2/3, 1/3.
        #expect(draft(proposer(factor: 3, minProbability: 0.3), tokens) == [1, 7, 1])
        #expect(draft(proposer(factor: 3, minProbability: 0.5), tokens) == [1, 7])
        #expect(draft(proposer(factor: 3, minProbability: 0.7), tokens).isEmpty)
        #expect(draft(proposer(factor: 3, minProbability: 0), tokens) == [1, 7, 1])
    }

    @Test func capsTheDraftByTheSpecFactor() {
        let tokens = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]
        // Matches of 1 and 2 tokens ("2", "1 2"): at most ⌈2 · factor⌉ tokens.
        #expect(draft(proposer(factor: 0.25), tokens) == [3])
        #expect(draft(proposer(factor: 0.5), tokens) == [3])
        #expect(draft(proposer(factor: 1), tokens) == [3, 4])
        #expect(draft(proposer(factor: 1.5), tokens) == [3, 4, 5])
        #expect(draft(proposer(factor: 2), tokens) == [3, 4, 5, 6])
        #expect(draft(proposer(factor: 100), tokens) == [3, 4, 5, 6, 7, 8, 9, 10, 1, 2])
    }

    @Test func treeDepthBoundsMatchAndDraft() {
        // Depth 3: a match of m tokens leaves room for 3 - m drafted tokens.
        let tokens = [1, 2, 3, 4, 5, 6, 1, 2]
        #expect(draft(proposer(depth: 3, factor: 4), tokens) == [3, 4])
        #expect(draft(proposer(depth: 1, factor: 4), tokens).isEmpty)
    }

    @Test func evictsTheOldestResponses() {
        let suffix = proposer(cached: 2)
        suffix.requestFinished("r1", tokenIds: [0, 1, 2, 3, 4], numPromptTokens: 1)
        suffix.requestFinished("r2", tokenIds: [0, 20, 21, 22], numPromptTokens: 1)
        #expect(draft(suffix, [9, 1, 2], id: "x") == [3, 4])
        suffix.requestFinished("r3", tokenIds: [0, 30, 31, 32], numPromptTokens: 1)
        #expect(draft(suffix, [9, 1, 2], id: "y").isEmpty)
        #expect(draft(suffix, [9, 20, 21], id: "z") == [22])
        // The removed response's nodes are gone: the tree is what the two kept responses make.
        let fresh = proposer(cached: 2)
        fresh.requestFinished("r2", tokenIds: [0, 20, 21, 22], numPromptTokens: 1)
        fresh.requestFinished("r3", tokenIds: [0, 30, 31, 32], numPromptTokens: 1)
        #expect(suffix.globalNodeCount == fresh.globalNodeCount)
        #expect(fresh.globalNodeCount == 1 + 6 + 6)
    }

    @Test func zeroCachedRequestsDisablesTheGlobalTree() {
        let suffix = proposer(cached: 0)
        suffix.requestFinished("r1", tokenIds: [0, 1, 2, 3, 4], numPromptTokens: 1)
        #expect(suffix.globalNodeCount == 1)
        #expect(draft(suffix, [9, 1, 2]).isEmpty)
    }

    @Test func perRequestTreeWinsTies() {
        // Both trees offer a one-token draft of probability 1 after "5"; the request's own says 6.
        let suffix = proposer(cached: 4)
        suffix.requestFinished("old", tokenIds: [0, 5, 8], numPromptTokens: 1)
        #expect(draft(suffix, [5, 6, 5]) == [6])
        // A longer match in the global tree ("3 4 5" against the request's own "4 5") drafts more and wins.
        suffix.requestFinished("older", tokenIds: [0, 3, 4, 5, 8, 9, 10], numPromptTokens: 1)
        #expect(draft(suffix, [4, 5, 6, 7, 3, 4, 5], id: "s") == [8, 9, 10])
        #expect(draft(suffix, [4, 5, 6, 7, 4, 5], id: "t") == [6, 7])
    }

    @Test func configSetsTheLimits() {
        var config = SpeculativeConfig(method: .suffix)
        config.suffixMaxTreeDepth = 12
        config.suffixMaxCachedRequests = 7
        config.suffixMaxSpecFactor = 1.5
        config.suffixMinTokenProbability = 0.2
        let suffix = SuffixProposer(config: config)
        #expect(suffix.maxTreeDepth == 12 && suffix.maxCachedRequests == 7 && suffix.maxSpecFactor == 1.5)
        #expect(suffix.minTokenProbability == 0.2 && suffix.maxDraftTokens == 16)
    }

    /// The default threshold (0.7) drafts through a continuation the context always took and stops
    /// at one it took two times in three, where 0.1 (vLLM's) drafts on.
    @Test func defaultConfigDraftsOnlyConfidentTokens() {
        let suffix = SuffixProposer(config: SpeculativeConfig(method: .suffix))
        #expect(suffix.minTokenProbability == 0.7)
        // After [1, 2]: 3 every time, then 4 twice and 5 once.
        let tokens = [1, 2, 3, 4, 9, 1, 2, 3, 4, 8, 1, 2, 3, 5, 7, 1, 2]
        #expect(draft(suffix, tokens, prompt: tokens.count) == [3])
        #expect(draft(proposer(minProbability: 0.1), tokens, prompt: tokens.count).starts(with: [3, 4]))
    }

    @Test func incrementalIndexingMatchesTheReference() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<300 {
            let reference = SuffixReference.random(using: &random)
            let incremental = reference.proposer(), whole = reference.proposer()
            var responses: [[Int]] = []
            let alphabet = Int.random(in: 2...4, using: &random)
            for r in 0..<Int.random(in: 0...5, using: &random) {
                let response = (0..<Int.random(in: 1...12, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                for proposer in [incremental, whole] {
                    proposer.requestFinished("done\(r)", tokenIds: [99] + response, numPromptTokens: 1)
                }
                responses.append(response)
            }
            var tokens: [Int] = []
            var last: [Int] = []
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                tokens += (0..<Int.random(in: 1...5, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                let asked = Int.random(in: 1...8, using: &random)
                last = draft(incremental, tokens, asked: asked)
                let expected = reference.propose(tokens, responses: responses, asked: asked)
                #expect(last == expected, "\(reference) \(tokens) \(responses) asked \(asked)")
                if last != expected { return }
                #expect(draft(whole, tokens, id: "w\(tokens.count)", asked: asked) == last)
            }
        }
    }

    @Test func evictionLeavesTheTreeOfTheKeptResponses() {
        var random = SeededRandom(seed: 3)
        for _ in 0..<100 {
            var reference = SuffixReference.random(using: &random)
            reference.maxCachedRequests = Int.random(in: 1...4, using: &random)
            let suffix = reference.proposer()
            var responses: [[Int]] = []
            let alphabet = Int.random(in: 2...5, using: &random)
            for r in 0..<Int.random(in: 1...12, using: &random) {
                let response = (0..<Int.random(in: 1...15, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                suffix.requestFinished("r\(r)", tokenIds: [7, 7] + response, numPromptTokens: 2)
                responses.append(response)
                // Queries between evictions read counts that removals changed.
                let context = (0..<Int.random(in: 1...6, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                #expect(draft(suffix, context, id: "p", asked: 8) == reference.propose(context, responses: responses, asked: 8))
                suffix.requestFinished("p", tokenIds: context, numPromptTokens: context.count)
            }
            let fresh = reference.proposer()
            for (r, response) in responses.suffix(reference.maxCachedRequests).enumerated() {
                fresh.requestFinished("f\(r)", tokenIds: response, numPromptTokens: 0)
            }
            #expect(suffix.globalNodeCount == fresh.globalNodeCount)
            for q in 0..<10 {
                let context = (0..<Int.random(in: 1...6, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                let got = draft(suffix, context, id: "q\(q)", asked: 8)
                #expect(got == draft(fresh, context, id: "q\(q)", asked: 8))
                #expect(got == reference.propose(context, responses: responses, asked: 8), "\(reference) \(context) \(responses)")
            }
        }
    }

    @Test func randomUseNeverExceedsTheCap() {
        var random = SeededRandom(seed: 2024)
        for _ in 0..<40 {
            let reference = SuffixReference.random(using: &random)
            let suffix = reference.proposer()
            var live: [String: [Int]] = [:]
            var responses: [[Int]] = []
            let alphabet = [2, 5, 50, 1 << 20].randomElement(using: &random)!
            for _ in 0..<200 {
                let id = "r\(Int.random(in: 0..<6, using: &random))"
                var tokens = live[id] ?? (0..<Int.random(in: 0...20, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                switch Int.random(in: 0..<10, using: &random) {
                case 0:
                    let prompt = Int.random(in: 0...(tokens.count + 1), using: &random)
                    suffix.requestFinished(id, tokenIds: tokens, numPromptTokens: prompt)
                    if reference.maxCachedRequests > 0 && prompt < tokens.count { responses.append(Array(tokens[prompt...])) }
                    live[id] = nil
                    continue
                case 1:
                    // The engine resent a request with other tokens: its tree must be rebuilt.
                    tokens = Array(tokens.prefix(Int.random(in: 0...tokens.count, using: &random)))
                    if !tokens.isEmpty { tokens[tokens.count - 1] = Int.random(in: 0..<alphabet, using: &random) }
                default:
                    tokens += (0..<Int.random(in: 0...4, using: &random)).map { _ in Int.random(in: 0..<alphabet, using: &random) }
                }
                live[id] = tokens
                let asked = Int.random(in: 1...10, using: &random)
                let proposal = suffix.propose([ProposalRequest(requestId: id, tokenIds: tokens, numPromptTokens: 0,
                                                               maxDraftTokens: asked)])
                #expect(proposal.count == 1 && proposal[0].probabilities == nil)
                #expect(proposal[0].tokenIds.count <= min(asked, reference.maxDraftTokens, reference.depth - 1))
                #expect(proposal[0].tokenIds == reference.propose(tokens, responses: responses, asked: asked),
                        "\(reference) \(tokens) \(responses)")
            }
        }
    }
}
