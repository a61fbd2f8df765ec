/// Scheduling limits and policy (vLLM's `SchedulerConfig` names).
public struct SchedulerConfig: Sendable, Equatable {
    public enum Policy: String, Sendable, CaseIterable {
        /// First come, first served; preemption takes the last running request.
        case fcfs
        /// Lowest `priority` value first (then arrival); preemption takes the least important.
        case priority
    }

    /// Token budget of one step (all requests together).
    public var maxNumBatchedTokens = 2048
    /// Most requests running at once.
    public var maxNumSeqs = 64
    /// Spread long prompts over several steps.
    public var enableChunkedPrefill = true
    /// Cap on one prefill chunk (0: only the budget caps it).
    public var longPrefillTokenThreshold = 0
    public var policy = Policy.fcfs

    public init(maxNumBatchedTokens: Int = 2048, maxNumSeqs: Int = 64, enableChunkedPrefill: Bool = true,
                longPrefillTokenThreshold: Int = 0, policy: Policy = .fcfs) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.enableChunkedPrefill = enableChunkedPrefill
        self.longPrefillTokenThreshold = longPrefillTokenThreshold
        self.policy = policy
    }
}
