/// What a KV connector moved, for `/metrics` (named as vLLM's connector and offloading metrics
/// where the meaning is the same).
public struct KVTransferStats: Sendable, Equatable {
    /// Blocks and bytes written into this instance's cache from outside.
    public var loadedBlocks = 0
    public var loadedBytes = 0
    /// Blocks and bytes sent or stored from this instance's cache.
    public var savedBlocks = 0
    public var savedBytes = 0
    /// Seconds spent loading and saving (on the transfer threads).
    public var loadSeconds = 0.0
    public var saveSeconds = 0.0
    /// Requests whose external KV could not all be loaded.
    public var loadFailures = 0
    /// Offloading: blocks looked up in the store that were found, and that were not.
    public var offloadHits = 0
    public var offloadMisses = 0
    /// Offloading: blocks and bytes in the store now, and blocks evicted to keep it under its limit.
    public var storedBlocks = 0
    public var storedBytes = 0
    public var evictedBlocks = 0
    /// Store files ignored because they were written for another model or layout, or were corrupt.
    public var rejectedFiles = 0

    public init() {}
}
