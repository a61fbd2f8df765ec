#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// How a drafter (a draft model, MTP layers) turns its logits into a draft token: the argmax for
/// a greedy request; otherwise a draw from its softmax at the request's temperature, returned
/// with those probabilities for the rejection rule.
enum DraftSampling {
    static func draw(_ x: UnsafeBufferPointer<Float>, temperature: Float, rng: inout SplitMix) -> (Int, [Float]?) {
        let v = x.count
        let m = maximum(x.baseAddress!, v)
        guard temperature > 0 else { return (x.firstIndex(of: m) ?? 0, nil) }
        var q = [Float](repeating: 0, count: v)
        let total = q.withUnsafeMutableBufferPointer { exponentials(x.baseAddress!, v, shift: m, scale: 1 / temperature, into: $0.baseAddress!) }
        for i in 0..<v { q[i] /= total }
        var u = rng.nextUnit()
        var token = v - 1
        for (i, p) in q.enumerated() where p > 0 {
            token = i
            u -= p
            if u < 0 { break }
        }
        return (token, q)
    }
}

/// The blocks of a drafter's own paged KV cache, handed to requests as they grow (one table per
/// KV cache group; no prefix caching: drafts are cheap to recompute).
struct DraftBlockAllocator {
    private var free: [Int32]
    let groups: Int

    init(numBlocks: Int, groups: Int) {
        free = (0..<Int32(numBlocks)).reversed()
        self.groups = groups
    }

    /// Grows each of `tables` to `blocks` blocks, or changes nothing and returns false.
    mutating func reserve(_ tables: inout [[Int32]], blocks: Int) -> Bool {
        let missing = max(0, blocks - (tables.first?.count ?? 0)) * tables.count
        guard missing <= free.count else { return false }
        for g in tables.indices {
            while tables[g].count < blocks { tables[g].append(free.removeLast()) }
        }
        return true
    }

    mutating func release(_ tables: [[Int32]]) {
        for table in tables { free += table }
    }
}

/// SplitMix64: a drafter's own reproducible uniform draws.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    /// A stable seed from a request id (FNV-1a; `hashValue` changes between processes).
    static func seed(_ id: String) -> UInt64 {
        id.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextUnit() -> Float { Float(next() >> 40) * 0x1p-24 }
}

extension Proposal {
    mutating func append(_ drawn: (Int, [Float]?)) {
        tokenIds.append(drawn.0)
        if let q = drawn.1 { probabilities = probabilities ?? []; probabilities!.append(q) }
    }
}
