/// How to pick each generated token (vLLM's names and meanings).
public struct SamplingParams: Sendable, Equatable {
    /// 0 means greedy.
    public var temperature: Float = 1
    /// Keep the k most likely tokens; 0 or less keeps all.
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability reaches `topP`.
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` times the most likely one.
    public var minP: Float = 0
    /// Seed of this request's random generator; nil draws one.
    public var seed: UInt64?
    /// Most tokens to generate.
    public var maxTokens: Int = 16
    /// Keep generating past end-of-generation tokens.
    public var ignoreEOS = false

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0, seed: UInt64? = nil,
                maxTokens: Int = 16, ignoreEOS: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
        self.maxTokens = maxTokens
        self.ignoreEOS = ignoreEOS
    }

    /// Greedy decoding.
    public static func greedy(maxTokens: Int) -> SamplingParams {
        SamplingParams(temperature: 0, maxTokens: maxTokens)
    }

    public var isGreedy: Bool { temperature == 0 || topK == 1 }

    /// Checks every field; the error names the first bad one.
    public func validate() throws(SamplingParamsError) {
        guard temperature.isFinite, temperature >= 0 else { throw .invalid(field: "temperature", reason: "must be a finite number ≥ 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw .invalid(field: "top_p", reason: "must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw .invalid(field: "min_p", reason: "must be in [0, 1], got \(minP)") }
        guard topK >= -1 else { throw .invalid(field: "top_k", reason: "must be -1, 0 (all) or positive, got \(topK)") }
        guard maxTokens >= 1 else { throw .invalid(field: "max_tokens", reason: "must be at least 1, got \(maxTokens)") }
    }
}

public enum SamplingParamsError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(field: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): "\(field) \(reason)"
        }
    }
}
