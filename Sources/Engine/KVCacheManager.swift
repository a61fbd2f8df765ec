import Models

/// The scheduler's view of the KV cache (vLLM's `KVCacheManager`): finds a request's longest
/// cached prefix, allocates slots for new tokens, caches newly full blocks, frees requests.
///
/// A model's layers form KV cache groups (``KVCacheLayout``); a request holds one list of blocks
/// per group, all drawn from one ``BlockPool``. In a sliding-window group the blocks that fall
/// wholly out of the window are freed while the request runs (vLLM's `SlidingWindowManager`), and
/// their place in the list is empty (nil; -1 in the block table).
public final class KVCacheManager {
    public let blockPool: BlockPool
    public let blockSize: Int
    /// Attention type of each KV cache group.
    public let groups: [AttentionType]
    public var enableCaching: Bool { blockPool.enableCaching }
    /// Blocks held by each request, per group, in position order (nil: freed or never needed).
    private var requestBlocks: [String: [[KVCacheBlock?]]] = [:]
    /// How many of each request's blocks are already cached, per group.
    private var numCachedBlocks: [String: [Int]] = [:]
    public private(set) var stats = PrefixCacheStats()

    public init(numBlocks: Int, blockSize: Int, enableCaching: Bool, groups: [AttentionType] = [.full]) {
        precondition(!groups.isEmpty, "at least one KV cache group")
        self.blockSize = blockSize
        self.groups = groups
        blockPool = BlockPool(numBlocks: numBlocks, blockSize: blockSize, enableCaching: enableCaching)
    }

    public var usage: Double { blockPool.usage }

    /// The longest cached prefix of the request's tokens, in whole blocks, and each group's hit
    /// blocks for it. A full-attention group needs every block of the prefix; a sliding-window
    /// group only those the next token's window reaches (vLLM's hybrid prefix search, to a fixed
    /// point over the groups). At most `numTokens - 1` tokens hit, so the last one is always
    /// computed (its logits are needed). Requests asking for prompt log-probabilities do not read
    /// the cache.
    func computedBlocks(for request: Request) -> (blocks: [[KVCacheBlock?]], numTokens: Int) {
        guard enableCaching, request.samplingParams.promptLogprobs == nil else { return ([], 0) }
        let maxHitBlocks = min((request.numTokens - 1) / blockSize, request.blockHashes.count)
        let found = groups.indices.map { g in
            (0..<maxHitBlocks).map { i in
                blockPool.cachedBlock(request.blockHashes[i], group: g, tokens: request.allTokenIds[(i * blockSize)..<((i + 1) * blockSize)])
            }
        }
        var length = maxHitBlocks
        for (g, kind) in groups.enumerated() where kind == .full {
            length = min(length, found[g].firstIndex { $0 == nil } ?? maxHitBlocks)
        }
        var changed = true
        while changed {
            changed = false
            for (g, kind) in groups.enumerated() {
                guard let window = kind.window else { continue }
                var k = length
                while k > 0 && !(firstNeededBlock(window: window, position: k * blockSize)..<k).allSatisfy({ found[g][$0] != nil }) { k -= 1 }
                if k < length { length = k; changed = true }
            }
        }
        let hits = groups.indices.map { g in
            let first = groups[g].window.map { firstNeededBlock(window: $0, position: length * blockSize) } ?? 0
            return (0..<length).map { $0 >= first ? found[g][$0] : nil }
        }
        return (length > 0 ? hits : [], length * blockSize)
    }

    /// Counts a prefix-cache lookup of `request` that found `numHitTokens` (once per request
    /// scheduled: a request skipped while it waits for another's load is not counted again).
    func recordLookup(_ request: Request, numHitTokens: Int) {
        guard enableCaching, request.samplingParams.promptLogprobs == nil else { return }
        stats.queries += request.numTokens
        stats.hits += numHitTokens
        stats.requests += 1
    }

    /// The first block a token at `position` reads under a sliding window.
    private func firstNeededBlock(window: Int, position: Int) -> Int {
        max(0, position - window + 1) / blockSize
    }

    /// Reserves slots for `numNewTokens` tokens after the request's computed ones (plus the
    /// prefix-hit blocks `newComputedBlocks`, one list per group), or returns false, changing
    /// nothing but the release of blocks no window reaches any more, when there are not enough
    /// free blocks. A request holds an entry here only while it holds blocks.
    /// - Parameter cachesNewBlocks: false for blocks an asynchronous load will fill: they are
    ///   cached (hashed) only once their content arrived.
    func allocateSlots(_ request: Request, numNewTokens: Int, newComputedBlocks: [[KVCacheBlock?]] = [],
                       cachesNewBlocks: Bool = true) -> Bool {
        let id = request.requestId
        let hitCount = newComputedBlocks.first?.count ?? 0
        let numComputed = request.numComputedTokens + hitCount * blockSize
        if requestBlocks[id] != nil { removeSkippedBlocks(request, numComputedTokens: numComputed) }
        let total = numComputed + numNewTokens
        let required = (total + blockSize - 1) / blockSize
        var numNew = 0, evictableHits = 0
        for g in groups.indices {
            numNew += max(0, required - (requestBlocks[id]?[g].count ?? 0) - hitCount)
        }
        // Hit blocks sitting in the free queue leave it, so they count against the free blocks.
        for list in newComputedBlocks { for case let block? in list where block.refCount == 0 { evictableHits += 1 } }
        guard numNew + evictableHits <= blockPool.numFreeBlocks else { return false }

        if requestBlocks[id] == nil {
            // Room for the blocks of the tokens the request expects, so decode steps append in place.
            let expectedBlocks = max(required, request.allTokenIds.capacity / blockSize + 1)
            requestBlocks[id] = groups.map { _ in [KVCacheBlock?](unsafeUninitializedCapacity: expectedBlocks) { $1 = 0 } }
            numCachedBlocks[id] = Array(repeating: 0, count: groups.count)
            request.blockIds = groups.map { _ in [Int32](unsafeUninitializedCapacity: expectedBlocks) { $1 = 0 } }
        }
        // Every group's hits leave the free queue before any group takes new blocks: a hit of one
        // group still in the queue could otherwise be handed to another as a fresh block.
        for (g, hits) in newComputedBlocks.enumerated() {
            blockPool.touch(hits.compactMap { $0 })
            requestBlocks[id]![g].append(contentsOf: hits)
        }
        for g in groups.indices {
            let fresh = max(0, required - requestBlocks[id]![g].count)
            // Appended in place: most decode steps add no block, and none should copy the table.
            if fresh > 0 { blockPool.takeNewBlocks(fresh) { requestBlocks[id]![g].append($0) } }
            if request.blockIds[g].count < requestBlocks[id]![g].count {
                for block in requestBlocks[id]![g][request.blockIds[g].count...] { request.blockIds[g].append(block.map { Int32($0.blockId) } ?? -1) }
            }
        }
        // Blocks this step will fill are cached now, so a request scheduled later in the same
        // step (n > 1 children, shared prefixes) can hit them: each layer writes every token's K/V
        // before any token attends. A request preempted before its step runs takes their hashes
        // back (``free(_:computedTokens:)``).
        if cachesNewBlocks { cacheFullBlocks(request, upTo: min(total, request.numTokens)) }
        return true
    }

    /// Frees, in each sliding-window group, the blocks no token from `numComputedTokens` on can
    /// see (they keep their hashes in the free queue, so they can still be hit).
    private func removeSkippedBlocks(_ request: Request, numComputedTokens: Int) {
        let id = request.requestId
        for (g, kind) in groups.enumerated() {
            guard let window = kind.window else { continue }
            let skipped = min(firstNeededBlock(window: window, position: numComputedTokens), requestBlocks[id]![g].count)
            var i = skipped - 1
            // Freed from the newest down to the first already-empty entry, so the pool sees the
            // oldest block freed last (evicted last among them), as on a whole request's free.
            while i >= 0, let block = requestBlocks[id]![g][i] {
                blockPool.free(CollectionOfOne(block))
                requestBlocks[id]![g][i] = nil
                request.blockIds[g][i] = -1
                i -= 1
            }
        }
    }

    /// Caches the request's blocks that are full of known tokens (after new tokens were appended).
    func cacheFullBlocks(_ request: Request) {
        guard requestBlocks[request.requestId] != nil else { return }
        cacheFullBlocks(request, upTo: min(request.numComputedTokens, request.numTokens))
    }

    private func cacheFullBlocks(_ request: Request, upTo numTokens: Int) {
        guard enableCaching, let blocks = requestBlocks[request.requestId] else { return }
        let id = request.requestId
        for g in groups.indices {
            let already = numCachedBlocks[id]![g]
            let full = min(numTokens / blockSize, request.blockHashes.count, blocks[g].count)
            guard full > already else { continue }
            for i in already..<full {
                guard let block = blocks[g][i] else { continue }
                blockPool.cache(block, hash: request.blockHashes[i], group: g,
                                tokens: request.allTokenIds[(i * blockSize)..<((i + 1) * blockSize)])
            }
            numCachedBlocks[id]![g] = full
        }
    }

    /// Frees the request's blocks, each group's last block first, so its tail is evicted before its head.
    /// With `computedTokens`, blocks not wholly computed lose their cached hash first: they were
    /// cached when allocated, for a step that will not run.
    func free(_ request: Request, computedTokens: Int? = nil) {
        let id = request.requestId
        if let computedTokens { uncacheUncomputed(request, computedTokens: computedTokens) }
        if let lists = requestBlocks.removeValue(forKey: id) {
            for list in lists { blockPool.free(list.reversed().compactMap { $0 }) }
        }
        numCachedBlocks[id] = nil
        for g in request.blockIds.indices { request.blockIds[g].removeAll(keepingCapacity: true) }
    }

    /// Takes the cached hash back from the request's blocks not wholly computed by
    /// `computedTokens` that no other request holds: they were cached when allocated, for a step
    /// that will not run.
    func uncacheUncomputed(_ request: Request, computedTokens: Int) {
        for list in requestBlocks[request.requestId] ?? [] {
            for (i, block) in list.enumerated() where (i + 1) * blockSize > computedTokens {
                if let block, block.refCount == 1 { blockPool.uncache(block) }
            }
        }
    }

    /// Number of requests holding blocks.
    public var numRequests: Int { requestBlocks.count }

    /// The blocks the request holds, every group's, in position order within each group.
    public func blocks(of requestId: String) -> [KVCacheBlock] { (requestBlocks[requestId] ?? []).flatMap { $0.compactMap { $0 } } }
}

/// Prefix-cache counters: tokens looked up and tokens found.
public struct PrefixCacheStats: Sendable, Equatable {
    public var requests = 0
    public var queries = 0
    public var hits = 0

    public var hitRate: Double { queries == 0 ? 0 : Double(hits) / Double(queries) }
}
