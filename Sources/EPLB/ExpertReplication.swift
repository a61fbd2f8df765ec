/// Replication inside one node (step 2): start with one replica per expert, then repeatedly give one
/// more replica to the expert with the largest float32 load ÷ replica count (ties: the first expert).
///
/// The experts sit in a max-heap keyed by (quotient, −index), so each extra replica costs O(log E)
/// instead of a scan; the key order makes the heap pick exactly the reference's `argmax`.
struct ExpertReplication: ~Copyable {
    private let heap: UnsafeMutableBufferPointer<Int32>
    private let quotient: UnsafeMutableBufferPointer<Float>

    init(maxExperts: Int) {
        heap = .allocate(capacity: max(maxExperts, 1))
        quotient = .allocate(capacity: max(maxExperts, 1))
    }

    deinit {
        heap.deallocate()
        quotient.deallocate()
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
            quotient[e] = loads[e]
            heap[e] = Int32(e)
        }
        guard numReplicas > numExperts else { return }
        for i in stride(from: numExperts / 2 - 1, through: 0, by: -1) { siftDown(from: i, size: numExperts) }
        for slot in numExperts..<numReplicas {
            let top = Int(heap[0])
            expert[slot] = Int32(top)
            rank[slot] = counts[top]
            counts[top] += 1
            quotient[top] = loads[top] / Float(counts[top])
            siftDown(from: 0, size: numExperts)
        }
    }

    private func before(_ a: Int32, _ b: Int32) -> Bool {
        let qa = quotient[Int(a)], qb = quotient[Int(b)]
        return qa > qb || (qa == qb && a < b)
    }

    private func siftDown(from start: Int, size: Int) {
        var i = start
        let x = heap[i]
        while true {
            var child = 2 * i + 1
            if child >= size { break }
            if child + 1 < size && before(heap[child + 1], heap[child]) { child += 1 }
            if !before(heap[child], x) { break }
            heap[i] = heap[child]
            i = child
        }
        heap[i] = x
    }
}
