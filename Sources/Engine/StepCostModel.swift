/// How a decode step's time grows with its tokens, fitted per batch size: for steps of about B
/// sequences, T(n) = a + b·n by decayed least squares over recent steps of that size, where n is
/// B plus the step's draft tokens. On a CPU a one-sequence step is mostly reading the weights (a)
/// and each extra token adds its arithmetic (b); at 16 sequences and more the step is
/// compute-bound and the line is steeper, and the kernels change path between those sizes, so
/// one line over every size under-predicts the large steps. Speculative decoding asks it what a
/// draft token costs relative to what a whole step buys. Only decode steps (each sequence one
/// known token and its drafts) are recorded: prefill tokens cost differently.
struct StepCostModel {
    /// A decayed least-squares line over the steps of one size class.
    struct LineFit {
        private var w = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0

        mutating func record(_ x: Double, _ y: Double) {
            w = w * StepCostModel.decay + 1
            sx = sx * StepCostModel.decay + x
            sy = sy * StepCostModel.decay + y
            sxx = sxx * StepCostModel.decay + x * x
            sxy = sxy * StepCostModel.decay + x * y
        }

        /// (a, b), once the steps seen differ enough in size to tell the slope.
        var line: (a: Double, b: Double)? {
            guard w > 2 else { return nil }
            let mx = sx / w, my = sy / w
            let variance = sxx / w - mx * mx
            guard variance > 0.25 else { return nil }
            let b = (sxy / w - mx * my) / variance
            return (my - b * mx, b)
        }
    }

    /// Batch sizes 1, 2, 3–4, 5–8, 9–16, 17–32, 33–64 and more.
    private var fits = [LineFit](repeating: LineFit(), count: 8)
    static let decay = 0.98
    /// b / a before any class has seen steps of different sizes (about what SmolLM2 shows here
    /// at one sequence).
    static let defaultRatio = 0.2

    static func sizeClass(_ sequences: Int) -> Int {
        min(7, Int.bitWidth - max(0, sequences - 1).leadingZeroBitCount)
    }

    mutating func record(sequences: Int, tokens: Int, seconds: Double) {
        fits[Self.sizeClass(sequences)].record(Double(tokens), seconds)
    }

    /// b·B / T(B): one token's marginal cost against the time a step of `batch` sequences takes,
    /// from the line of the batch's size class, else of the nearest class that has one.
    func costShare(batch: Int) -> Double {
        let home = Self.sizeClass(batch), x = Double(max(1, batch))
        for distance in 0..<fits.count {
            for c in stride(from: home - distance, through: home + distance, by: max(1, 2 * distance)) where fits.indices.contains(c) {
                guard let (a, b) = fits[c].line else { continue }
                guard b > 0 else { return 0.01 }
                guard a > 0 else { return 1 }
                let r = min(5, max(0.01, b / a)) * x
                return r / (1 + r)
            }
        }
        let r = Self.defaultRatio * x
        return r / (1 + r)
    }

    /// The chance of acceptance above which one more draft token pays in a step of `batch`
    /// decoding requests: its cost b against the time a token is worth, T(B)/B, with a quarter
    /// more for what the line leaves out (verifying and proposing, steps past the fitted range).
    /// Measured here, 16 requests lost 5–15% with drafts at the bare break-even.
    func breakEven(batch: Int) -> Float {
        Float(min(1, 1.25 * costShare(batch: batch)))
    }
}
