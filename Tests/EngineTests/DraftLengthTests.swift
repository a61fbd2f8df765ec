@testable import Engine
import Testing

/// The adaptive draft length: the step-cost line, the break-even chance it gives per batch size,
/// and each request's length from its acceptance.
@Suite struct DraftLengthTests {
    /// One-sequence steps that take 4 ms plus 0.6 ms a token (b/a = 0.15): one request breaks
    /// even at 1.25 · 0.15 / 1.15. Sixteen-sequence steps of 20 ms plus 1 ms a token: sixteen
    /// break even at 1.25 · 16 / 36, not what the one-sequence line would say (1.25 · 2.4 / 3.4).
    @Test func breakEvenFollowsTheLineOfItsBatchSize() {
        var cost = StepCostModel()
        #expect(abs(cost.costShare(batch: 1) - 0.2 / 1.2) < 1e-12)
        for i in 0..<200 {
            let n = 1 + i % 6
            cost.record(sequences: 1, tokens: n, seconds: 0.004 + 0.0006 * Double(n))
        }
        #expect(abs(cost.breakEven(batch: 1) - Float(1.25 * 0.15 / 1.15)) < 1e-5)
        // Only one class has a line: the others extend it.
        #expect(abs(cost.breakEven(batch: 16) - Float(1.25 * 2.4 / 3.4)) < 1e-5)
        #expect(cost.breakEven(batch: 64) == 1)
        for i in 0..<200 {
            let n = 16 + 4 * (i % 8)
            cost.record(sequences: 16, tokens: n, seconds: 0.020 + 0.001 * Double(n))
        }
        #expect(abs(cost.breakEven(batch: 16) - Float(1.25 * 16 / 36)) < 1e-5)
        #expect(abs(cost.breakEven(batch: 12) - Float(1.25 * 12 / 32)) < 1e-5)
        #expect(abs(cost.breakEven(batch: 1) - Float(1.25 * 0.15 / 1.15)) < 1e-5)
    }

    @Test func oneStepSizeKeepsTheDefault() {
        var cost = StepCostModel()
        for _ in 0..<50 { cost.record(sequences: 1, tokens: 1, seconds: 0.004) }
        #expect(abs(cost.costShare(batch: 1) - 0.2 / 1.2) < 1e-12)
        #expect(StepCostModel.sizeClass(1) == 0 && StepCostModel.sizeClass(2) == 1 && StepCostModel.sizeClass(4) == 2)
        #expect(StepCostModel.sizeClass(9) == 4 && StepCostModel.sizeClass(16) == 4 && StepCostModel.sizeClass(17) == 5)
        #expect(StepCostModel.sizeClass(64) == 6 && StepCostModel.sizeClass(65) == 7 && StepCostModel.sizeClass(1000) == 7)
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
