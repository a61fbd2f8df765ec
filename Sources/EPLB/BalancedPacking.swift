/// Balanced packing, the building block of every EPLB step: n weighted items into m bins of exactly
/// n/m items each. Items are visited heaviest first (ties: lower item index first); each goes to the
/// lightest bin that still has room (ties: lowest bin index). Loads accumulate in float32, in
/// visiting order, as in the reference.
///
/// The bins sit in a min-heap keyed by (load, index), so a choice costs O(log m) instead of O(m);
/// the key order makes the heap pick exactly the bin the reference's linear `min` picks.
struct BalancedPacking: ~Copyable {
    private let order: UnsafeMutableBufferPointer<Int32>
    private let heap: UnsafeMutableBufferPointer<Int32>
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
            heap[b] = Int32(b)
            binLoad[b] = 0
            binCount[b] = 0
        }
        var heapSize = bins
        for k in 0..<count {
            let item = Int(order[k])
            let b = Int(heap[0])
            bin[item] = Int32(b)
            rank[item] = binCount[b]
            binLoad[b] += loads[item]
            binCount[b] += 1
            if Int(binCount[b]) == perBin {
                heapSize -= 1
                heap[0] = heap[heapSize]
            }
            siftDownBin(from: 0, size: heapSize)
        }
    }

    /// Fills `order[0..<count]` with item indices by descending load, ties by ascending index
    /// (a stable descending sort, as the reference's insertion sort does on short rows).
    private func sortDescending(_ loads: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { order[i] = Int32(i) }
        let heavierFirst = { (a: Int32, b: Int32) -> Bool in
            let la = loads[Int(a)], lb = loads[Int(b)]
            return la > lb || (la == lb && a < b)
        }
        if count <= 16 {
            for i in 1..<max(count, 1) {
                let x = order[i]
                var j = i
                while j > 0 && heavierFirst(x, order[j - 1]) {
                    order[j] = order[j - 1]
                    j -= 1
                }
                order[j] = x
            }
        } else {
            var prefix = UnsafeMutableBufferPointer(rebasing: order[0..<count])
            prefix.sort(by: heavierFirst)
        }
    }

    private func lighter(_ a: Int32, _ b: Int32) -> Bool {
        let la = binLoad[Int(a)], lb = binLoad[Int(b)]
        return la < lb || (la == lb && a < b)
    }

    private func siftDownBin(from start: Int, size: Int) {
        var i = start
        let x = heap[i]
        while true {
            var child = 2 * i + 1
            if child >= size { break }
            if child + 1 < size && lighter(heap[child + 1], heap[child]) { child += 1 }
            if !lighter(heap[child], x) { break }
            heap[i] = heap[child]
            i = child
        }
        heap[i] = x
    }
}
