/// All KV blocks, the free queue and the prefix cache's (hash, KV cache group) → block map.
///
/// Eviction is lazy: a freed block keeps its hash and can still be hit until it is handed out
/// again; only then is its map entry dropped.
public final class BlockPool {
    public let blocks: [KVCacheBlock]
    public let freeQueue: FreeBlockQueue
    public let enableCaching: Bool
    let blockSize: Int
    private(set) var cachedBlocks: [CacheKey: KVCacheBlock] = [:]
    /// One past the highest block id ever handed out: the free queue starts in id order, so the
    /// blocks below it are the ones a step may have written (``KVCachePopulator`` maps ahead of it).
    public private(set) var highWater = 0

    /// A cached block's key: the same tokens are cached once per KV cache group.
    struct CacheKey: Hashable {
        var hash: BlockHash
        var group: Int
    }

    public init(numBlocks: Int, blockSize: Int, enableCaching: Bool) {
        precondition(numBlocks > 0 && blockSize > 0)
        self.blockSize = blockSize
        self.enableCaching = enableCaching
        blocks = (0..<numBlocks).map { KVCacheBlock(blockId: $0, blockSize: blockSize) }
        freeQueue = FreeBlockQueue(blocks)
        // A block holds at most one hash: the map never rehashes as blocks fill.
        if enableCaching { cachedBlocks.reserveCapacity(numBlocks) }
    }

    public var numFreeBlocks: Int { freeQueue.count }

    /// Fraction of blocks in use.
    public var usage: Double { 1 - Double(numFreeBlocks) / Double(blocks.count) }

    /// Number of blocks currently in the hash map.
    public var numCachedBlocks: Int { cachedBlocks.count }

    /// The cached block of `group` with this hash, if it holds exactly `tokens`.
    func cachedBlock(_ hash: BlockHash, group: Int = 0, tokens: ArraySlice<Int>) -> KVCacheBlock? {
        guard let block = cachedBlocks[CacheKey(hash: hash, group: group)], block.tokenIds.elementsEqual(tokens) else { return nil }
        return block
    }

    /// Takes `n` blocks from the front of the free queue, evicting their cached hashes.
    func getNewBlocks(_ n: Int) -> [KVCacheBlock] {
        var out: [KVCacheBlock] = []
        out.reserveCapacity(n)
        takeNewBlocks(n) { out.append($0) }
        return out
    }

    /// ``getNewBlocks(_:)`` handing each block to `body` (no list is made).
    func takeNewBlocks(_ n: Int, _ body: (KVCacheBlock) -> Void) {
        precondition(n <= numFreeBlocks, "asked for \(n) blocks with \(numFreeBlocks) free")
        for _ in 0..<n {
            let block = freeQueue.popFront()!
            highWater = max(highWater, block.blockId + 1)
            evict(block)
            block.refCount = 1
            body(block)
        }
    }

    /// Drops the block's cached hash (its contents are not what the hash says).
    func uncache(_ block: KVCacheBlock) { evict(block) }

    private func evict(_ block: KVCacheBlock) {
        guard let hash = block.blockHash else { return }
        let key = CacheKey(hash: hash, group: block.cacheGroup)
        if cachedBlocks[key] === block { cachedBlocks[key] = nil }
        block.blockHash = nil
        block.tokenIds.removeAll(keepingCapacity: true)
    }

    /// A prefix hit takes blocks: a free one leaves the free queue; each gains a reference.
    func touch(_ hits: [KVCacheBlock]) {
        for block in hits {
            if block.refCount == 0 { freeQueue.remove(block) }
            block.refCount += 1
        }
    }

    /// Marks a newly full block of KV cache group `group` as cached under `hash`.
    func cache(_ block: KVCacheBlock, hash: BlockHash, group: Int = 0, tokens: ArraySlice<Int>) {
        guard enableCaching, block.blockHash == nil else { return }
        block.blockHash = hash
        block.cacheGroup = group
        block.tokenIds.removeAll(keepingCapacity: true)
        block.tokenIds.append(contentsOf: tokens)
        // An identical copy may already be cached (two requests computed the same block at once):
        // the first stays in the map; this one is evicted normally when reused.
        let key = CacheKey(hash: hash, group: group)
        if cachedBlocks[key] == nil { cachedBlocks[key] = block }
    }

    /// Drops a reference from each block, in the given order; blocks reaching zero go to the back
    /// of the free queue, so among them the first given is evicted first.
    func free(_ ordered: some Sequence<KVCacheBlock>) {
        for block in ordered {
            precondition(block.refCount > 0, "double free of block \(block.blockId)")
            block.refCount -= 1
            if block.refCount == 0 { freeQueue.append(block) }
        }
    }

    /// Forgets every cached hash; only allowed when no block is in use.
    @discardableResult
    public func resetPrefixCache() -> Bool {
        guard numFreeBlocks == blocks.count else { return false }
        for block in blocks { evict(block) }
        return true
    }
}
