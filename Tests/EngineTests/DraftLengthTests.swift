@testable import Engine
import Testing

/// The adaptive draft length: the step-cost line, the break-even chance it gives per batch size,
/// and each request's length from its acceptance.
@Suite struct DraftLengthTests {
    /// Steps that take 4 ms plus 0.6 ms a token: b/a = 0.15, so one request breaks even at
    /// 1.25 · 0.15 / 1.15 and sixteen at 1.25 · 2.4 / 3.4.
    @Test func breakEvenFollowsTheFittedLine() {
        var cost = StepCostModel()
        #expect(abs(cost.ratio - StepCostModel.defaultRatio) < 1e-12)
        for i in 0..<200 {
            let n = [1, 2, 4, 6, 16, 64][i % 6]
            cost.record(tokens: n, seconds: 0.004 + 0.0006 * Double(n))
        }
        #expect(abs(cost.ratio - 0.15) < 1e-6)
        #expect(abs(cost.breakEven(batch: 1) - Float(1.25 * 0.15 / 1.15)) < 1e-5)
        #expect(abs(cost.breakEven(batch: 16) - Float(1.25 * 2.4 / 3.4)) < 1e-5)
        #expect(cost.breakEven(batch: 64) == 1)
    }

    @Test func oneStepSizeKeepsTheDefault() {
        var cost = StepCostModel()
        for _ in 0..<50 { cost.record(tokens: 1, seconds: 0.004) }
        #expect(cost.ratio == StepCostModel.defaultRatio)
    }

    @Test func lengthGrowsWithAcceptanceAndProbesWhenOff() {
        var a = DraftAcceptance()
        // Prior 0.6: 0.6³ = 0.216 ≥ 0.2 > 0.6⁴.
        #expect(a.length(maxTokens: 8, breakEven: 0.2) == 3)
        for _ in 0..<40 { a.record(drafted: 5, accepted: 5) }
        #expect(a.alpha > 0.95)
        #expect(a.length(maxTokens: 8, breakEven: 0.2) == 8)
        for _ in 0..<40 { a.record(drafted: 3, accepted: 0) }
        #expect(a.alpha < 0.1)
        // Off: no draft for 15 steps, then a one-token probe.
        let lengths = (0..<32).map { _ in a.length(maxTokens: 8, breakEven: 0.2) }
        #expect(lengths.filter { $0 > 0 } == [1, 1])
        #expect(lengths[15] == 1 && lengths[31] == 1)
        // No probes where nothing can pay.
        #expect((0..<32).allSatisfy { _ in a.length(maxTokens: 8, breakEven: 0.95) == 0 })
    }
}
