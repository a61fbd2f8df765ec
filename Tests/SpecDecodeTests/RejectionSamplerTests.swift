import Testing
@testable import SpecDecode

/// The rejection rule's output distribution is the target's, exactly: for a draft drawn from q,
/// P(out = x) = q(x)·min(1, p(x)/q(x)) + P(reject)·residual(x) = p(x). Checked by integrating
/// over the uniform draws on a fine grid, for point-mass and full draft distributions.
@Suite struct RejectionSamplerTests {
    static let p: [Float] = [0.05, 0.4, 0.0, 0.25, 0.3]
    static let qs: [[Float]] = [[0.2, 0.2, 0.2, 0.2, 0.2], [0.7, 0.1, 0.1, 0.05, 0.05], p, [0, 0, 1, 0, 0]]

    /// The distribution of the emitted token when the draft token is drawn from `q` (nil: a
    /// point mass at `d`), by summing over a grid of uniform draws.
    static func outputDistribution(q: [Float]?, pointMassAt d: Int = 0, grid: Int = 4000) -> [Double] {
        var out = [Double](repeating: 0, count: p.count)
        let drafts: [(Int, Double)] = q.map { q in q.enumerated().filter { $0.element > 0 }.map { ($0.offset, Double($0.element)) } } ?? [(d, 1)]
        p.withUnsafeBufferPointer { target in
            for (token, weight) in drafts {
                for i in 0..<grid {
                    let u = (Float(i) + 0.5) / Float(grid)
                    if RejectionSampler.accepts(token, target: target, draft: q, uniform: u) {
                        out[token] += weight / Double(grid)
                        continue
                    }
                    for j in 0..<grid {
                        let v = (Float(j) + 0.5) / Float(grid)
                        let x = RejectionSampler.recover(target: target, draft: q, rejected: token, uniform: v)
                        out[x] += weight / Double(grid) / Double(grid)
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: 0..<4)
    func fullDraftDistributionsGiveTheTarget(index: Int) {
        let out = Self.outputDistribution(q: Self.qs[index], grid: 600)
        for (a, b) in zip(out, Self.p) { #expect(abs(a - Double(b)) < 4e-3, "q \(Self.qs[index]): \(out)") }
    }

    @Test(arguments: 0..<5)
    func pointMassDraftsKeepTheTargetGivenTheDraft(token: Int) {
        // With q = δ_d, the draft is kept with probability p(d); otherwise a token ≠ d is drawn from p.
        let out = Self.outputDistribution(q: nil, pointMassAt: token, grid: 600)
        for (x, a) in out.enumerated() { #expect(abs(a - Double(Self.p[x])) < 4e-3, "d \(token): \(out)") }
    }

    @Test func greedyKeepsTheAgreeingPrefixAndTheTargetsToken() {
        let targets = [7, 8, 9, 10]
        #expect(RejectionSampler.verifyGreedy(draft: [7, 8, 9]) { targets[$0] } == [7, 8, 9, 10])
        #expect(RejectionSampler.verifyGreedy(draft: [7, 5, 9]) { targets[$0] } == [7, 8])
        #expect(RejectionSampler.verifyGreedy(draft: [1]) { targets[$0] } == [7])
        #expect(RejectionSampler.verifyGreedy(draft: [Int]()) { targets[$0] } == [7])
    }

    /// A token the target rules out (p = 0: a grammar mask) is never kept, even when the draft
    /// distribution gave it no mass either.
    @Test func aTokenTheTargetRulesOutIsNeverKept() {
        Self.p.withUnsafeBufferPointer { target in
            for u: Float in [0, 0.5, 0.999] {
                #expect(!RejectionSampler.accepts(2, target: target, draft: [0.5, 0.5, 0, 0, 0], uniform: u))
                #expect(!RejectionSampler.accepts(2, target: target, draft: nil, uniform: u))
                #expect(RejectionSampler.accepts(1, target: target, draft: [0.5, 0, 0.5, 0, 0], uniform: u))
            }
        }
    }
}
