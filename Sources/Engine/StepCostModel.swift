/// How a step's time grows with its tokens, fitted as T(n) = a + b·n by decayed least squares
/// over recent steps. On a CPU a decode step's time is mostly reading the weights (a), and each
/// extra token adds its arithmetic (b). Speculative decoding asks it what a draft token costs
/// relative to what a whole step buys.
struct StepCostModel {
    private var w = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
    static let decay = 0.98
    /// b / a before the fit has seen steps of different sizes (about what SmolLM2 shows here).
    static let defaultRatio = 0.2

    mutating func record(tokens: Int, seconds: Double) {
        let x = Double(tokens)
        w = w * Self.decay + 1
        sx = sx * Self.decay + x
        sy = sy * Self.decay + seconds
        sxx = sxx * Self.decay + x * x
        sxy = sxy * Self.decay + x * seconds
    }

    /// b / a: one token's marginal cost as a share of a step's fixed cost.
    var ratio: Double {
        guard w > 2 else { return Self.defaultRatio }
        let mx = sx / w, my = sy / w
        let variance = sxx / w - mx * mx
        guard variance > 0.25 else { return Self.defaultRatio }
        let b = (sxy / w - mx * my) / variance
        let a = my - b * mx
        guard b > 0, a > 0 else { return b > 0 ? 5 : 0.01 }
        return min(5, max(0.01, b / a))
    }

    /// The chance of acceptance above which one more draft token pays in a step of `batch`
    /// decoding requests: its cost b against the time a token is worth, T(B)/B, with a quarter
    /// more for what the line leaves out (verifying and proposing, steps past the fitted range).
    /// Measured here, 16 requests lost 5–15% with drafts at the bare break-even.
    func breakEven(batch: Int) -> Float {
        let r = ratio * Double(max(1, batch))
        return Float(min(1, 1.25 * r / (1 + r)))
    }
}
