/// Balanced packing, the building block of every EPLB step: n weighted items into m bins of exactly
/// n/m items each. Items are visited heaviest first (ties: lower item index first); each goes to the
/// lightest bin that still has room (ties: lowest bin index). Loads accumulate in float32, in
/// visiting order, as in the reference.
///
/// The bins sit in a min-heap keyed by (load, index), so a choice costs O(log m) instead of O(m);
/// the key order makes the heap pick exactly the bin the reference's linear `min` picks.
struct BalancedPacking: ~Copyable {
    /// Sort keys: load bits in the high half, `UInt32.max − item` in the low half, so descending keys
    /// are heaviest first, then lowest index.
    private let order: UnsafeMutableBufferPointer<UInt64>
    /// Bin heap entries: load bits in the high half (non-negative floats order like their bits), bin
    /// index in the low half, so a smaller key is a lighter bin, then a lower index.
    private let heap: UnsafeMutableBufferPointer<UInt64>
    private let binLoad: UnsafeMutableBufferPointer<Float>
    private let binCount: UnsafeMutableBufferPointer<Int32>

    init(maxItems: Int, maxBins: Int) {
        order = .allocate(capacity: max(maxItems, 1))
        heap = .allocate(capacity: max(maxBins, 1))
        binLoad = .allocate(capacity: max(maxBins, 1))
        binCount = .allocate(capacity: max(maxBins, 1))
    }

    deinit {
        order.deallocate()
        heap.deallocate()
        binLoad.deallocate()
        binCount.deallocate()
    }

    /// Packs `loads[0..<count]` into `bins` bins; writes each item's bin to `bin` and its rank inside
    /// the bin to `rank`. `count` must be a multiple of `bins`.
    func pack(
        _ loads: UnsafePointer<Float>, count: Int, bins: Int,
        bin: UnsafeMutablePointer<Int32>, rank: UnsafeMutablePointer<Int32>
    ) {
        let perBin = count / bins
        if perBin == 1 {
            for i in 0..<count {
                bin[i] = Int32(i)
                rank[i] = 0
            }
            return
        }
        sortDescending(loads, count: count)
        for b in 0..<bins {
            heap[b] = UInt64(b)
            binLoad[b] = 0
            binCount[b] = 0
        }
        var heapSize = bins
        for k in 0..<count {
            let item = Int(UInt32.max - UInt32(truncatingIfNeeded: order[k]))
            let b = Int(UInt32(truncatingIfNeeded: heap[0]))
            bin[item] = Int32(b)
            rank[item] = binCount[b]
            binLoad[b] += loads[item]
            binCount[b] += 1
            if Int(binCount[b]) == perBin {
                heapSize -= 1
                if heapSize > 0 { siftDownBin(heap[heapSize], size: heapSize) }
            } else {
                siftDownBin(UInt64(binLoad[b].bitPattern) << 32 | UInt64(b), size: heapSize)
            }
        }
    }

    /// Fills `order[0..<count]` with item keys by descending load, ties by ascending index: the
    /// order of a stable descending sort, which is what the reference's insertion sort gives on
    /// short rows.
    private func sortDescending(_ loads: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { order[i] = UInt64(loads[i].bitPattern) << 32 | UInt64(UInt32.max - UInt32(i)) }
        DescendingKeySort.sort(order.baseAddress!, count: count)
    }

    /// Places `key` at the root and restores the min-heap order.
    @inline(__always)
    private func siftDownBin(_ key: UInt64, size: Int) {
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= size { break }
            var childKey = heap[child]
            if child + 1 < size, heap[child + 1] < childKey {
                child += 1
                childKey = heap[child]
            }
            if childKey > key { break }
            heap[i] = childKey
            i = child
        }
        heap[i] = key
    }
}
