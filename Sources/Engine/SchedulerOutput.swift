import KVTransfer

/// One step's decision: which requests run how many tokens (vLLM's `SchedulerOutput`).
public struct SchedulerOutput {
    /// One request's share of the step.
    public struct ScheduledRequest {
        public let request: Request
        /// Position of the first scheduled token (the request's computed tokens before this step).
        public let startPosition: Int
        public let numTokens: Int
        /// Whether this chunk reaches the end of the request's known tokens, so a token is sampled.
        public let samplesToken: Bool
        /// Draft tokens scheduled after the known ones (the first of `request.specTokenIds`).
        public let numSpecTokens: Int
    }

    public internal(set) var scheduled: [ScheduledRequest] = []
    public internal(set) var totalNumScheduledTokens = 0
    /// Requests preempted during this step (their KV was freed; they will be recomputed).
    public internal(set) var preemptedRequestIds: [String] = []

    /// What the KV connector's worker side does this step (loads to start, blocks to save).
    public internal(set) var kvConnectorMetadata = KVConnectorMetadata()
    /// Requests ended because their external KV could not be loaded (`kv_load_failure_policy` fail).
    public internal(set) var failedLoadRequestIds: [String] = []

    public var isEmpty: Bool { scheduled.isEmpty }

    mutating func reset() {
        scheduled.removeAll(keepingCapacity: true)
        kvConnectorMetadata = KVConnectorMetadata()
        failedLoadRequestIds.removeAll(keepingCapacity: true)
        preemptedRequestIds.removeAll(keepingCapacity: true)
        totalNumScheduledTokens = 0
    }
}
