/// What the model runner produced in one step, per scheduled request, in the order of
/// ``SchedulerOutput/scheduled``: the accepted drafts and the token sampled after them (one
/// token without speculation), and log-probabilities where they were asked for.
///
/// The runner keeps one and refills it every step (its storage keeps its capacity), so a
/// decode step hands its tokens on without allocating.
public struct SampledTokens {
    /// Every item's tokens, one item after another.
    public private(set) var tokenIds: [Int] = []
    /// Per item, its slice of ``tokenIds`` (empty when the item sampled nothing).
    public private(set) var ranges: [Range<Int>] = []
    /// Per item, one entry per token, when log-probabilities were asked for.
    public private(set) var logprobs: [[TokenLogprobs]?] = []
    /// Per item, the prompt tokens' log-probabilities computed this step, when asked for.
    public private(set) var promptLogprobs: [[TokenLogprobs?]?] = []

    public init() {}

    /// The number of scheduled items.
    public var count: Int { ranges.count }

    /// The tokens of item `i`.
    public func tokens(_ i: Int) -> ArraySlice<Int> { tokenIds[ranges[i]] }

    /// Whether item `i` produced anything (tokens or prompt log-probabilities).
    public func produced(_ i: Int) -> Bool { !ranges[i].isEmpty || promptLogprobs[i] != nil }

    mutating func removeAll() {
        tokenIds.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        logprobs.removeAll(keepingCapacity: true)
        promptLogprobs.removeAll(keepingCapacity: true)
    }

    /// Starts the next item; its tokens are the ones appended until the next call.
    mutating func startItem(promptLogprobs prompt: [TokenLogprobs?]? = nil) {
        ranges.append(tokenIds.count..<tokenIds.count)
        logprobs.append(nil)
        promptLogprobs.append(prompt)
    }

    /// Appends a token to the current item.
    mutating func append(_ token: Int) {
        tokenIds.append(token)
        ranges[ranges.count - 1] = ranges[ranges.count - 1].lowerBound..<tokenIds.count
    }

    mutating func setLogprobs(_ list: [TokenLogprobs]) { logprobs[logprobs.count - 1] = list }
}
