#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// Turns one row of logits into a token id: greedy, or temperature with top-k, top-p and min-p.
public struct Sampler: Sendable {
    var candidates: [Candidate] = []
    private var probabilities: [Float] = []
    private var bucketMass: [Float] = []
    private var edge: [Candidate] = []

    struct Candidate {
        var id: Int
        var logit: Float
    }

    public init() {}

    /// The id of the largest logit (the lowest id among equals).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        // The maximum sixteen lanes at a time, then the first index that holds it.
        let n = logits.count
        guard n > 0, let base = logits.baseAddress else { return 0 }
        let m = maximum(base, n)
        for j in 0..<n where base[j] == m { return j }
        return 0  // all NaN
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, params: SamplingParams, rng: inout RandomGenerator) -> Int {
        if params.isGreedy { return Self.argmax(logits) }
        let topK = params.topK > 0 && params.topK < logits.count
        let truncates = topK || params.topP < 1 || params.minP > 0
        if !truncates { return sampleWhole(logits, temperature: params.temperature, rng: &rng) }
        if !topK { return sampleNucleus(logits, params: params, rng: &rng) }
        // Candidates in descending order: the top k, or, for top-p alone, a prefix grown until it
        // holds the nucleus (exact, and rarely more than a few hundred tokens).
        let k = params.topK > 0 ? min(params.topK, logits.count) : logits.count
        var take = params.topK > 0 ? k : min(64, logits.count)
        while true {
            selectTop(take, of: logits)
            if take >= k || nucleusCovered(logits, params: params) { break }
            take = min(k, take * 8)
        }
        let invT = 1 / params.temperature
        let maxLogit = candidates[0].logit
        var weights = candidates.map { expf(($0.logit - maxLogit) * invT) }
        // Mass of the whole distribution at this temperature, for top-p over all tokens.
        var total: Float = 0
        if take < logits.count {
            total = sumOfExponentials(logits.baseAddress!, logits.count, shift: maxLogit, scale: invT)
        } else {
            total = weights.reduce(0, +)
        }
        var keep = weights.count
        if params.topP < 1 {
            var cumulative: Float = 0
            for (i, w) in weights.enumerated() {
                cumulative += w
                if cumulative >= params.topP * total { keep = i + 1; break }
            }
        }
        if params.minP > 0 {
            let floor = params.minP * weights[0]
            keep = min(keep, max(1, weights.prefix(keep).firstIndex { $0 < floor } ?? keep))
        }
        weights.removeSubrange(keep...)
        let sum = weights.reduce(0, +)
        var r = rng.nextUnit() * sum
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
    }

    /// Top-p and/or min-p without top-k, with no sort of the vocabulary: one pass weighs every
    /// token and drops it in a bucket by its log-weight; the buckets, walked from the top, give
    /// the bucket where the nucleus ends; only that bucket's tokens are sorted. The kept tokens
    /// are those above it plus the boundary's best until the mass reaches top_p, then those
    /// under min_p × the top weight go.
    private mutating func sampleNucleus(_ logits: UnsafeBufferPointer<Float>, params: SamplingParams, rng: inout RandomGenerator) -> Int {
        let invT = 1 / params.temperature, n = logits.count
        let maxLogit = maximum(logits.baseAddress!, n)
        let buckets = Self.nucleusBuckets, width = Self.nucleusSpan / Float(buckets)
        bucketMass.removeAll(keepingCapacity: true)
        bucketMass.append(contentsOf: repeatElement(0, count: buckets))
        if probabilities.count != n { probabilities = [Float](repeating: 0, count: n) }
        let total = probabilities.withUnsafeMutableBufferPointer { w in
            exponentials(logits.baseAddress!, n, shift: maxLogit, scale: invT, into: w.baseAddress!)
        }
        for (i, v) in logits.enumerated() {
            bucketMass[Self.bucket(of: (v - maxLogit) * invT, width: width, count: buckets)] += probabilities[i]
        }
        // The bucket where the nucleus's mass is reached (the last one holds everything lower).
        let target = params.topP < 1 ? params.topP * total : .infinity
        var boundary = buckets - 1, mass: Float = 0
        for b in 0..<buckets {
            if mass + bucketMass[b] >= target { boundary = b; break }
            mass += bucketMass[b]
        }
        let floor = params.minP > 0 ? params.minP : 0  // the top token's weight is 1
        candidates.removeAll(keepingCapacity: true)
        edge.removeAll(keepingCapacity: true)
        for (i, v) in logits.enumerated() {
            let b = Self.bucket(of: (v - maxLogit) * invT, width: width, count: buckets)
            if b < boundary { candidates.append(Candidate(id: i, logit: v)) } else if b == boundary { edge.append(Candidate(id: i, logit: v)) }
        }
        // Order matters only where the nucleus ends inside the bucket.
        if target.isFinite { edge.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) } }
        for c in edge {
            if mass >= target { break }
            candidates.append(c)
            mass += probabilities[c.id]
        }
        var sum: Float = 0
        for c in candidates where probabilities[c.id] >= floor { sum += probabilities[c.id] }
        var r = rng.nextUnit() * sum
        var last = candidates[0].id
        for c in candidates where probabilities[c.id] >= floor {
            last = c.id
            r -= probabilities[c.id]
            if r < 0 { return c.id }
        }
        return last
    }

    /// Buckets of the nucleus search, over log-weights from 0 down to −span (lower ones share the last).
    static let nucleusBuckets = 4096
    static let nucleusSpan: Float = 64

    @inline(__always)
    static func bucket(of logWeight: Float, width: Float, count: Int) -> Int {
        let x = -logWeight / width
        // NaN and infinite weights (from NaN or infinite logits) must not reach Int(_:), which traps.
        guard x < Float(count - 1) else { return count - 1 }
        return x > 0 ? Int(x) : 0
    }

    /// Draws from softmax(logits / temperature) over the whole vocabulary in two linear passes
    /// (no candidate selection or sort when nothing truncates the distribution).
    private mutating func sampleWhole(_ logits: UnsafeBufferPointer<Float>, temperature: Float, rng: inout RandomGenerator) -> Int {
        let n = logits.count
        let maxLogit = maximum(logits.baseAddress!, n)
        if probabilities.count != n { probabilities = [Float](repeating: 0, count: n) }
        let sum = probabilities.withUnsafeMutableBufferPointer { w in
            exponentials(logits.baseAddress!, n, shift: maxLogit, scale: 1 / temperature, into: w.baseAddress!)
        }
        var r = rng.nextUnit() * sum
        var last = 0
        for (i, w) in probabilities.enumerated() where w > 0 {
            r -= w
            last = i
            if r < 0 { return i }
        }
        return last  // rounding left r at or above zero: the last token with any weight
    }

    /// Fills `candidates` with the `n` largest logits, in descending order.
    mutating func selectTop(_ n: Int, of logits: UnsafeBufferPointer<Float>) {
        candidates.removeAll(keepingCapacity: true)
        if n >= logits.count {
            candidates = logits.enumerated().map { Candidate(id: $0.offset, logit: $0.element) }
        } else {
            // A min-heap of the best n seen so far.
            var heap: [Candidate] = []
            heap.reserveCapacity(n)
            for (i, v) in logits.enumerated() {
                if heap.count < n {
                    heap.append(Candidate(id: i, logit: v))
                    siftUp(&heap, heap.count - 1)
                } else if v > heap[0].logit {
                    heap[0] = Candidate(id: i, logit: v)
                    siftDown(&heap, 0)
                }
            }
            candidates = heap
        }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
    }

    private func nucleusCovered(_ logits: UnsafeBufferPointer<Float>, params: SamplingParams) -> Bool {
        guard params.topP < 1 || params.minP > 0 else { return false }
        let invT = 1 / params.temperature, m = candidates[0].logit
        if params.minP > 0, let last = candidates.last, expf((last.logit - m) * invT) < params.minP { return true }
        guard params.topP < 1 else { return false }
        let total = sumOfExponentials(logits.baseAddress!, logits.count, shift: m, scale: invT)
        let covered = candidates.reduce(Float(0)) { $0 + expf(($1.logit - m) * invT) }
        return covered >= params.topP * total
    }

    private func siftUp(_ h: inout [Candidate], _ i: Int) {
        var i = i
        while i > 0 {
            let p = (i - 1) / 2
            if h[p].logit <= h[i].logit { return }
            h.swapAt(p, i)
            i = p
        }
    }

    private func siftDown(_ h: inout [Candidate], _ i: Int) {
        var i = i
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < h.count, h[l].logit < h[m].logit { m = l }
            if r < h.count, h[r].logit < h[m].logit { m = r }
            if m == i { return }
            h.swapAt(m, i)
            i = m
        }
    }
}
