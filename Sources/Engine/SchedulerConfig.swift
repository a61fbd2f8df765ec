/// Scheduling limits and policy (vLLM's `SchedulerConfig` names).
public struct SchedulerConfig: Sendable, Equatable {
    public enum Policy: String, Sendable, CaseIterable {
        /// First come, first served; preemption takes the last running request.
        case fcfs
        /// Lowest `priority` value first (then arrival); preemption takes the least important.
        case priority
    }

    /// Token budget of one step (all requests together). On a CPU a step of 512 prompt tokens
    /// takes about two seconds, so a larger budget stalls the decodes batched with it.
    public var maxNumBatchedTokens = 512
    /// Most requests running at once.
    public var maxNumSeqs = 64
    /// Spread long prompts over several steps.
    public var enableChunkedPrefill = true
    /// Cap on one prefill chunk (0: only the budget caps it).
    public var longPrefillTokenThreshold = 0
    public var policy = Policy.fcfs

    public init(maxNumBatchedTokens: Int = 512, maxNumSeqs: Int = 64, enableChunkedPrefill: Bool = true,
                longPrefillTokenThreshold: Int = 0, policy: Policy = .fcfs) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.enableChunkedPrefill = enableChunkedPrefill
        self.longPrefillTokenThreshold = longPrefillTokenThreshold
        self.policy = policy
    }
}
