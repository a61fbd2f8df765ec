/// Counters for metrics (read them between steps).
public struct EngineStats: Sendable, Equatable {
    public var numRunning = 0
    public var numWaiting = 0
    /// Fraction of KV blocks in use.
    public var kvCacheUsage = 0.0
    public var numKVBlocks = 0
    public var prefixCache = PrefixCacheStats()
    public var numPreemptions = 0
    public var promptTokens = 0
    public var generationTokens = 0
    public var steps = 0
    public var finishedRequests = 0
}
