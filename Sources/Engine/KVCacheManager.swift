/// The scheduler's view of the KV cache (vLLM's `KVCacheManager`): finds a request's longest
/// cached prefix, allocates slots for new tokens, caches newly full blocks, frees requests.
public final class KVCacheManager {
    public let blockPool: BlockPool
    public let blockSize: Int
    public var enableCaching: Bool { blockPool.enableCaching }
    /// Blocks held by each request, in position order.
    private var requestBlocks: [String: [KVCacheBlock]] = [:]
    /// How many of each request's blocks are already cached.
    private var numCachedBlocks: [String: Int] = [:]
    public private(set) var stats = PrefixCacheStats()

    public init(numBlocks: Int, blockSize: Int, enableCaching: Bool) {
        self.blockSize = blockSize
        blockPool = BlockPool(numBlocks: numBlocks, blockSize: blockSize, enableCaching: enableCaching)
    }

    public var usage: Double { blockPool.usage }

    /// The longest run of cached full blocks at the start of the request's tokens, and how many
    /// tokens they hold. At most `numTokens - 1` tokens hit, so the last one is always computed
    /// (its logits are needed). Requests asking for prompt log-probabilities do not read the cache.
    func computedBlocks(for request: Request) -> (blocks: [KVCacheBlock], numTokens: Int) {
        guard enableCaching, request.samplingParams.promptLogprobs == nil else { return ([], 0) }
        let maxHitBlocks = (request.numTokens - 1) / blockSize
        var hits: [KVCacheBlock] = []
        for (i, hash) in request.blockHashes.prefix(maxHitBlocks).enumerated() {
            let tokens = request.allTokenIds[(i * blockSize)..<((i + 1) * blockSize)]
            guard let block = blockPool.cachedBlock(hash, tokens: tokens) else { break }
            hits.append(block)
        }
        stats.queries += request.numTokens
        stats.hits += hits.count * blockSize
        stats.requests += 1
        return (hits, hits.count * blockSize)
    }

    /// Reserves slots for `numNewTokens` tokens after the request's computed ones (plus the
    /// prefix-hit blocks `newComputedBlocks`), or returns false, changing nothing, when there are
    /// not enough free blocks.
    func allocateSlots(_ request: Request, numNewTokens: Int, newComputedBlocks: [KVCacheBlock] = []) -> Bool {
        let id = request.requestId
        let held = requestBlocks[id]?.count ?? 0
        let numComputed = request.numComputedTokens + newComputedBlocks.count * blockSize
        let total = numComputed + numNewTokens
        let required = (total + blockSize - 1) / blockSize
        let numNew = max(0, required - held - newComputedBlocks.count)
        // Hit blocks sitting in the free queue leave it, so they count against the free blocks.
        let evictableHits = newComputedBlocks.reduce(0) { $0 + ($1.refCount == 0 ? 1 : 0) }
        guard numNew + evictableHits <= blockPool.numFreeBlocks else { return false }

        blockPool.touch(newComputedBlocks)
        // Appended in place: most decode steps add no block, and none should copy the table.
        if !newComputedBlocks.isEmpty || numNew > 0 {
            requestBlocks[id, default: []].append(contentsOf: newComputedBlocks)
            requestBlocks[id, default: []].append(contentsOf: blockPool.getNewBlocks(numNew))
        }
        let blocks = requestBlocks[id] ?? []
        for block in blocks[request.blockIds.count...] { request.blockIds.append(Int32(block.blockId)) }
        cacheFullBlocks(request, blocks: blocks, upTo: min(total, request.numTokens))
        return true
    }

    /// Caches the request's blocks that are full of known tokens (after new tokens were appended).
    func cacheFullBlocks(_ request: Request) {
        guard let blocks = requestBlocks[request.requestId] else { return }
        cacheFullBlocks(request, blocks: blocks, upTo: min(request.numComputedTokens, request.numTokens))
    }

    private func cacheFullBlocks(_ request: Request, blocks: [KVCacheBlock], upTo numTokens: Int) {
        guard enableCaching else { return }
        let id = request.requestId
        let already = numCachedBlocks[id] ?? 0
        let full = min(numTokens / blockSize, request.blockHashes.count, blocks.count)
        guard full > already else { return }
        for i in already..<full {
            blockPool.cache(blocks[i], hash: request.blockHashes[i],
                            tokens: request.allTokenIds[(i * blockSize)..<((i + 1) * blockSize)])
        }
        numCachedBlocks[id] = full
    }

    /// Frees the request's blocks, last block first, so its tail is evicted before its head.
    func free(_ request: Request) {
        let id = request.requestId
        if let blocks = requestBlocks.removeValue(forKey: id) { blockPool.free(blocks.reversed()) }
        numCachedBlocks[id] = nil
        request.blockIds.removeAll(keepingCapacity: true)
    }

    /// Number of requests holding blocks.
    public var numRequests: Int { requestBlocks.count }

    public func blocks(of requestId: String) -> [KVCacheBlock] { requestBlocks[requestId] ?? [] }
}

/// Prefix-cache counters: tokens looked up and tokens found.
public struct PrefixCacheStats: Sendable, Equatable {
    public var requests = 0
    public var queries = 0
    public var hits = 0

    public var hitRate: Double { queries == 0 ? 0 : Double(hits) / Double(queries) }
}
