/// A streamed piece of one request's result (vLLM's `RequestOutput`, in delta mode): the text,
/// token ids and log-probabilities produced since the previous piece.
public struct RequestOutput: Sendable {
    public var requestId: String
    public var promptTokenIds: [Int]
    /// Pieces of the completions that advanced (one per child for n > 1).
    public var outputs: [CompletionOutput]
    /// True on the last piece of the request (all completions finished).
    public var finished: Bool
    /// Prompt tokens served from the prefix cache.
    public var numCachedTokens: Int
    /// Log-probabilities of the prompt tokens (the first is nil), on the first piece that has them.
    public var promptLogprobs: [TokenLogprobs?]?
    public var metrics: RequestMetrics?
    /// Set on the last piece of a request the engine could not finish (its step failed).
    public var failure: RequestFailure?
}

/// Why the engine ended a request without finishing it: a step of its failed (an expert worker
/// died or missed its deadline). The request's blocks are freed; nothing of that step is kept.
public struct RequestFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// One completion's delta.
public struct CompletionOutput: Sendable {
    /// Which of the n completions.
    public var index: Int
    public var text: String
    public var tokenIds: [Int]
    public var logprobs: [TokenLogprobs]?
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
}

/// Timings of a finished request (seconds since the reference date; durations in seconds).
public struct RequestMetrics: Sendable {
    public var arrivalTime: Double
    public var firstScheduledTime: Double?
    public var firstTokenTime: Double?
    public var finishedTime: Double
    public var numGeneratedTokens: Int

    /// Time to first token.
    public var ttft: Double? { firstTokenTime.map { $0 - arrivalTime } }
    /// Time per output token after the first (mean inter-token latency).
    public var tpot: Double? {
        guard let first = firstTokenTime, numGeneratedTokens > 1 else { return nil }
        return (finishedTime - first) / Double(numGeneratedTokens - 1)
    }
}
