/// One fixed block of KV slots. Created once at start-up; its identity never changes.
public final class KVCacheBlock {
    /// Index of the block in the KV cache (0..<numBlocks).
    public let blockId: Int
    /// Number of requests using the block; 0 means it sits in the free queue.
    public internal(set) var refCount = 0
    /// Set when the block is full and cached; kept while free until the block is reused.
    public internal(set) var blockHash: BlockHash?
    /// The KV cache group the block was cached for (meaningful while `blockHash` is set).
    public internal(set) var cacheGroup = 0
    /// The token ids a cached block holds (checked on every hit).
    var tokenIds: [Int]
    // Intrusive links of the free queue; only FreeBlockQueue touches them.
    var prevFree: KVCacheBlock?
    var nextFree: KVCacheBlock?

    init(blockId: Int, blockSize: Int) {
        self.blockId = blockId
        tokenIds = []
        tokenIds.reserveCapacity(blockSize)
    }

    var isInFreeQueue: Bool { prevFree != nil }
}
