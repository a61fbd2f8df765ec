@testable import Engine
import TestSupport
import Testing

struct BlockPoolTests {
    @Test func freeQueueSupportsConstantTimeOperations() {
        let pool = BlockPool(numBlocks: 6, blockSize: 4, enableCaching: true)
        #expect(pool.freeQueue.blockIds == [0, 1, 2, 3, 4, 5])
        let taken = pool.getNewBlocks(3)
        #expect(taken.map(\.blockId) == [0, 1, 2] && taken.allSatisfy { $0.refCount == 1 })
        #expect(pool.freeQueue.blockIds == [3, 4, 5])
        pool.free(taken.reversed())
        #expect(pool.freeQueue.blockIds == [3, 4, 5, 2, 1, 0])
        // A prefix hit on a free block takes it out of the middle of the queue.
        pool.touch([pool.blocks[4]])
        #expect(pool.freeQueue.blockIds == [3, 5, 2, 1, 0] && pool.blocks[4].refCount == 1)
        pool.touch([pool.blocks[4]])
        #expect(pool.blocks[4].refCount == 2)
        pool.free([pool.blocks[4]])
        #expect(pool.freeQueue.count == 5)
        pool.free([pool.blocks[4]])
        #expect(pool.freeQueue.blockIds == [3, 5, 2, 1, 0, 4])
    }

    @Test func evictionIsLazyAndChecksTokens() {
        let pool = BlockPool(numBlocks: 2, blockSize: 2, enableCaching: true)
        let tokens = [7, 8]
        let hash = BlockHash(parent: nil, tokens: tokens[...])
        let block = pool.getNewBlocks(1)[0]
        pool.cache(block, hash: hash, tokens: tokens[...])
        pool.free([block])
        // Still hittable while free.
        #expect(pool.cachedBlock(hash, tokens: tokens[...]) === block)
        #expect(pool.cachedBlock(hash, tokens: [7, 9][...]) == nil)
        // Reused: the hash goes.
        _ = pool.getNewBlocks(2)
        #expect(pool.cachedBlock(hash, tokens: tokens[...]) == nil)
        #expect(block.blockHash == nil && pool.numCachedBlocks == 0)
    }

    @Test func hashChainsDependOnParentAndTokens() {
        let a = BlockHash(parent: nil, tokens: [1, 2, 3][...])
        #expect(a == BlockHash(parent: nil, tokens: [1, 2, 3][...]))
        #expect(a != BlockHash(parent: nil, tokens: [1, 2, 4][...]))
        #expect(BlockHash(parent: a, tokens: [5][...]) != BlockHash(parent: nil, tokens: [5][...]))
        #expect(BlockHash(parent: nil, tokens: [5][...], extraKey: 1) != BlockHash(parent: nil, tokens: [5][...]))
    }

    /// Thousands of random allocate/hit/free sequences on the manager, checking the invariants:
    /// every block free with ref count 0 at the end, no hash maps to a block holding other tokens,
    /// and a request's blocks return to the queue tail-first.
    @Test func randomAllocationsKeepTheInvariants() {
        var rng = SeededRandom(seed: 99)
        for round in 0..<300 {
            let blockSize = [1, 2, 4, 16].randomElement(using: &rng)!
            let manager = KVCacheManager(numBlocks: Int.random(in: 4...40, using: &rng), blockSize: blockSize, enableCaching: round % 5 != 0)
            var live: [Request] = []
            // What each block holds, from the test's own bookkeeping: the hash of its chain and
            // its tokens, for full blocks; absent for a block being filled.
            var holds: [Int: (hash: BlockHash, tokens: [Int])] = [:]
            func record(_ r: Request) {
                var parent: BlockHash?
                for (i, id) in r.blockIds[0].enumerated() {
                    let end = (i + 1) * blockSize
                    guard end <= r.numComputedTokens else { holds[Int(id)] = nil; continue }
                    let tokens = Array(r.allTokenIds[(i * blockSize)..<end])
                    let hash = BlockHash(parent: parent, tokens: tokens[...])
                    holds[Int(id)] = (hash, tokens)
                    parent = hash
                }
            }
            let prefixes = (0..<3).map { _ in (0..<Int.random(in: 1...40, using: &rng)).map { _ in Int.random(in: 0..<5, using: &rng) } }
            for step in 0..<60 {
                if Bool.random(using: &rng) || live.isEmpty {
                    var prompt = prefixes.randomElement(using: &rng)!
                    prompt += (0..<Int.random(in: 0...20, using: &rng)).map { _ in Int.random(in: 0..<5, using: &rng) }
                    if prompt.isEmpty { prompt = [1] }
                    let r = Request(requestId: "r\(round)-\(step)", promptTokenIds: prompt, samplingParams: SamplingParams(),
                                    eosTokenIds: [], maxModelLength: 10_000, blockSize: blockSize)
                    let (hits, n) = manager.computedBlocks(for: r)
                    #expect(n <= prompt.count - 1)
                    for (i, b) in (hits.first ?? []).enumerated() { #expect(b?.tokenIds == Array(prompt[(i * blockSize)..<((i + 1) * blockSize)])) }
                    if manager.allocateSlots(r, numNewTokens: prompt.count - n, newComputedBlocks: hits) {
                        r.numComputedTokens = prompt.count
                        record(r)
                        live.append(r)
                        #expect(r.blockIds[0].count == (prompt.count + blockSize - 1) / blockSize)
                    }
                } else {
                    let i = Int.random(in: 0..<live.count, using: &rng)
                    let r = live.remove(at: i)
                    if Bool.random(using: &rng) {
                        // Grow by a few decoded tokens first.
                        for t in 0..<Int.random(in: 1...5, using: &rng) {
                            guard manager.allocateSlots(r, numNewTokens: 1) else { break }
                            r.appendOutputToken(t)
                            r.numComputedTokens += 1
                            manager.cacheFullBlocks(r)
                            record(r)
                        }
                    }
                    let blocks = manager.blocks(of: r.requestId)
                    manager.free(r)
                    let freed = blocks.filter { $0.refCount == 0 }.map(\.blockId)
                    let tail = Array(manager.blockPool.freeQueue.blockIds.suffix(freed.count))
                    #expect(tail == Array(blocks.reversed().filter { $0.refCount == 0 }.map(\.blockId)))
                }
                // Every entry of the prefix cache maps the hash of a chain of tokens to a block that
                // holds exactly that chain's last block.
                for (key, block) in manager.blockPool.cachedBlocks {
                    let held = holds[block.blockId]
                    #expect(held?.hash == key.hash && held?.tokens == block.tokenIds, "block \(block.blockId)")
                }
            }
            for r in live { manager.free(r) }
            let pool = manager.blockPool
            #expect(pool.numFreeBlocks == pool.blocks.count)
            #expect(pool.blocks.allSatisfy { $0.refCount == 0 })
            #expect(Set(pool.freeQueue.blockIds).count == pool.blocks.count)
            #expect(manager.numRequests == 0)
        }
    }
}
