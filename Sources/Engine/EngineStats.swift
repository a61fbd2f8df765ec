import KVTransfer
import Models

/// Counters for metrics (read them between steps).
public struct EngineStats: Sendable, Equatable {
    public var numRunning = 0
    public var numWaiting = 0
    /// Fraction of KV blocks in use.
    public var kvCacheUsage = 0.0
    public var numKVBlocks = 0
    public var prefixCache = PrefixCacheStats()
    public var numPreemptions = 0
    /// Prompt tokens of the requests that produced their first token, counted once per request
    /// (each of `n` completions), prefix-cache hits included: vLLM's `prompt_tokens_total`.
    public var promptTokens = 0
    /// Prompt tokens the model actually computed (prefix-cache hits left out, recomputation
    /// after preemption counted again).
    public var prefilledTokens = 0
    public var generationTokens = 0
    public var steps = 0
    public var finishedRequests = 0
    /// The router's load and balance of an MoE model; nil for a dense one.
    public var expertLoad: ExpertLoadStats?
    /// Expert workers' counters and health (an expert-parallel MoE model).
    public var expertParallel: ExpertDispatchStats?
    /// Drafts and acceptance with speculative decoding on; nil without it.
    public var specDecode: SpecDecodeStats?
    /// What the KV connector moved; nil without one.
    public var kvTransfer: KVTransferStats?
    /// Requests waiting for external KV.
    public var numWaitingForRemoteKVs = 0
}
