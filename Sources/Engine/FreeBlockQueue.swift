/// The free blocks as an intrusive doubly linked list, least recently freed first.
///
/// Fake head and tail nodes mean no operation ever meets a missing neighbour; `popFront`,
/// `append` and `remove` (a prefix hit taking a free cached block back) are all O(1) and
/// allocate nothing.
public final class FreeBlockQueue {
    private let head = KVCacheBlock(blockId: -1, blockSize: 0)
    private let tail = KVCacheBlock(blockId: -2, blockSize: 0)
    public private(set) var count = 0

    /// A queue holding `blocks` in the given order.
    init(_ blocks: [KVCacheBlock]) {
        head.nextFree = tail
        tail.prevFree = head
        for b in blocks { append(b) }
    }

    deinit {
        // Break the reference cycles of the links.
        var node = head.nextFree
        while let n = node, n !== tail {
            node = n.nextFree
            n.prevFree = nil
            n.nextFree = nil
        }
        head.nextFree = nil
        tail.prevFree = nil
    }

    public var first: KVCacheBlock? { count == 0 ? nil : head.nextFree }

    func popFront() -> KVCacheBlock? {
        guard count > 0, let block = head.nextFree else { return nil }
        remove(block)
        return block
    }

    func append(_ block: KVCacheBlock) {
        precondition(!block.isInFreeQueue, "block \(block.blockId) is already free")
        let last = tail.prevFree!
        last.nextFree = block
        block.prevFree = last
        block.nextFree = tail
        tail.prevFree = block
        count += 1
    }

    func remove(_ block: KVCacheBlock) {
        guard let prev = block.prevFree, let next = block.nextFree else {
            preconditionFailure("block \(block.blockId) is not in the free queue")
        }
        prev.nextFree = next
        next.prevFree = prev
        block.prevFree = nil
        block.nextFree = nil
        count -= 1
    }

    /// The block ids from front to back (for tests and debugging).
    public var blockIds: [Int] {
        var ids: [Int] = []
        var node = head.nextFree
        while let n = node, n !== tail {
            ids.append(n.blockId)
            node = n.nextFree
        }
        return ids
    }
}
