/// Times token mask computation along a known-valid output: one pass with an empty mask cache
/// (cold: every new stack context is computed on the way) and one with the cache it left (warm).
///
/// ```swift
/// let result = try GrammarBenchmark.run(compiled, tokens: tokenizer.encode(json, addSpecial: false))
/// print(result.warm.p50Microseconds)
/// ```
public enum GrammarBenchmark {
    /// Why a benchmark could not run.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Token `index` of the output (id `id`) is not allowed by the grammar, or is missing
        /// from the mask the matcher computed.
        case tokenRejected(index: Int, id: Int, inMask: Bool)

        public var description: String {
            switch self {
            case .tokenRejected(let index, let id, let inMask):
                "token \(index) (id \(id)) of the output is not accepted by the grammar" + (inMask ? "" : " nor allowed by its mask")
            }
        }
    }

    /// Mask times of one pass, in microseconds per token.
    public struct Timings: Codable, Sendable, Equatable {
        public var p50Microseconds: Double
        public var p99Microseconds: Double
        public var meanMicroseconds: Double
        public var maxMicroseconds: Double
        /// Time spent accepting tokens (advancing the matcher), per token.
        public var acceptMeanMicroseconds: Double

        public init(p50Microseconds: Double, p99Microseconds: Double, meanMicroseconds: Double,
                    maxMicroseconds: Double, acceptMeanMicroseconds: Double) {
            self.p50Microseconds = p50Microseconds
            self.p99Microseconds = p99Microseconds
            self.meanMicroseconds = meanMicroseconds
            self.maxMicroseconds = maxMicroseconds
            self.acceptMeanMicroseconds = acceptMeanMicroseconds
        }
    }

    /// What ``run(_:tokens:)`` measured.
    public struct Result: Codable, Sendable, Equatable {
        /// Masks computed per pass (the output's tokens, plus one for the end when it is a complete match).
        public var masks: Int
        public var vocabSize: Int
        /// The first pass, from an empty cache.
        public var cold: Timings
        /// The second pass, with the cache the first one left.
        public var warm: Timings
        /// Allowed tokens per mask, averaged over the masks.
        public var meanAllowedTokens: Double
        /// The cache after both passes.
        public var cache: TokenMaskCacheStatistics
        /// Every mask time of the warm pass, in microseconds, in output order (to pool over runs).
        public var warmMicroseconds: [Double]
    }

    /// Runs the two passes over `tokens` (a valid output, stop token optional) on a fresh copy of
    /// `compiled`'s cache, so `compiled`'s own cache is left as it was.
    public static func run(_ compiled: CompiledGrammar, tokens: [Int]) throws(Failure) -> Result {
        let fresh = CompiledGrammar(grammar: compiled.grammar, tokenizerInfo: compiled.tokenizerInfo, contextDepth: compiled.contextDepth)
        var allowedTotal = 0
        let cold = try pass(fresh, tokens: tokens, allowed: &allowedTotal)
        allowedTotal = 0
        let warm = try pass(fresh, tokens: tokens, allowed: &allowedTotal)
        return Result(masks: warm.count, vocabSize: compiled.tokenizerInfo.vocabSize, cold: cold.timings, warm: warm.timings,
                      meanAllowedTokens: Double(allowedTotal) / Double(max(warm.count, 1)), cache: fresh.cacheStatistics,
                      warmMicroseconds: warm.samples)
    }

    private struct Pass {
        var samples: [Double]
        var accept: Double
        var count: Int { samples.count }

        var timings: Timings {
            let sorted = samples.sorted()
            func percentile(_ p: Double) -> Double {
                guard !sorted.isEmpty else { return 0 }
                return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
            }
            return Timings(p50Microseconds: percentile(0.5), p99Microseconds: percentile(0.99),
                           meanMicroseconds: sorted.reduce(0, +) / Double(max(sorted.count, 1)),
                           maxMicroseconds: sorted.last ?? 0, acceptMeanMicroseconds: accept / Double(max(sorted.count, 1)))
        }
    }

    private static func pass(_ compiled: CompiledGrammar, tokens: [Int], allowed: inout Int) throws(Failure) -> Pass {
        let matcher = GrammarMatcher(compiled: compiled)
        var mask = TokenBitmask(vocabSize: compiled.tokenizerInfo.vocabSize)
        let clock = ContinuousClock()
        var samples: [Double] = []
        samples.reserveCapacity(tokens.count + 1)
        var acceptTime = Duration.zero
        func microseconds(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        }
        for (index, id) in tokens.enumerated() {
            let start = clock.now
            matcher.fillNextTokenBitmask(&mask)
            samples.append(microseconds(start.duration(to: clock.now)))
            allowed += mask.allowedCount
            let before = clock.now
            let accepted = matcher.acceptToken(id)
            acceptTime += before.duration(to: clock.now)
            guard accepted, mask[id] else { throw .tokenRejected(index: index, id: id, inMask: mask[id]) }
            if matcher.isTerminated { break }
        }
        if !matcher.isTerminated && matcher.canTerminate {
            let start = clock.now
            matcher.fillNextTokenBitmask(&mask)
            samples.append(microseconds(start.duration(to: clock.now)))
            allowed += mask.allowedCount
        }
        return Pass(samples: samples, accept: microseconds(acceptTime))
    }
}
