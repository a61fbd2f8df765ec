/// Replication inside one node (step 2): start with one replica per expert, then repeatedly give one
/// more replica to the expert with the largest float32 load ÷ replica count (ties: the first expert).
///
/// The experts sit in a max-heap keyed by (quotient, −index), so each extra replica costs O(log E)
/// instead of a scan; the key order makes the heap pick exactly the reference's `argmax`.
struct ExpertReplication: ~Copyable {
    /// Heap entries: quotient bits in the high half (non-negative floats order like their bits), and
    /// `UInt32.max − expert` in the low half, so a larger key is a larger quotient, then a lower index.
    private let heap: UnsafeMutableBufferPointer<UInt64>

    init(maxExperts: Int) {
        heap = .allocate(capacity: max(maxExperts, 1))
    }

    deinit {
        heap.deallocate()
    }

    /// Turns `numExperts` experts with `loads` into `numReplicas` replicas. Writes each replica's expert
    /// (`expert`, length `numReplicas`: the originals in order, then extra replicas as created), its
    /// replica rank (`rank`), and each expert's final replica count (`counts`, length `numExperts`).
    func replicate(
        _ loads: UnsafePointer<Float>, numExperts: Int, numReplicas: Int,
        expert: UnsafeMutablePointer<Int32>, rank: UnsafeMutablePointer<Int32>, counts: UnsafeMutablePointer<Int32>
    ) {
        for e in 0..<numExperts {
            expert[e] = Int32(e)
            rank[e] = 0
            counts[e] = 1
            heap[e] = Self.key(loads[e], e)
        }
        guard numReplicas > numExperts else { return }
        for i in stride(from: numExperts / 2 - 1, through: 0, by: -1) { siftDown(heap[i], from: i, size: numExperts) }
        for slot in numExperts..<numReplicas {
            let top = Int(UInt32.max - UInt32(truncatingIfNeeded: heap[0]))
            expert[slot] = Int32(top)
            rank[slot] = counts[top]
            counts[top] += 1
            siftDown(Self.key(loads[top] / Float(counts[top]), top), from: 0, size: numExperts)
        }
    }

    @inline(__always)
    private static func key(_ quotient: Float, _ expert: Int) -> UInt64 {
        UInt64(quotient.bitPattern) << 32 | UInt64(UInt32.max - UInt32(expert))
    }

    /// Places `key` at `start` and restores the max-heap order below it.
    @inline(__always)
    private func siftDown(_ key: UInt64, from start: Int, size: Int) {
        var i = start
        while true {
            var child = 2 * i + 1
            if child >= size { break }
            var childKey = heap[child]
            if child + 1 < size, heap[child + 1] > childKey {
                child += 1
                childKey = heap[child]
            }
            if childKey < key { break }
            heap[i] = childKey
            i = child
        }
        heap[i] = key
    }
}
