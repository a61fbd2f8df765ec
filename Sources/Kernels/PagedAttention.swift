import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Precision of the values held in the KV cache.
public enum KVPrecision: Sendable {
    case float32
    /// Rounded to half precision on store, as llama.cpp's default F16 cache holds them
    /// (kept in float lanes for now; packing them as halves is a memory/bandwidth win for later).
    case float16
}

/// Where one layer's keys and values live: a pool of fixed-size blocks. Values are laid out
/// `[block][kvHead][slotInBlock][headDim]`; keys are transposed within a block,
/// `[block][kvHead][headDim][slotInBlock]`, so the scores of a whole block are one run of
/// vector FMAs (a block of 16 slots is one `SIMD16`), with no horizontal sums.
public struct KVLayerView: @unchecked Sendable {
    public let keys: UnsafeMutablePointer<Float>
    public let values: UnsafeMutablePointer<Float>
    public let blockSize: Int
    public let kvHeads: Int
    public let headDim: Int
    public let precision: KVPrecision

    public init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, blockSize: Int, kvHeads: Int, headDim: Int,
                precision: KVPrecision = .float32) {
        self.precision = precision
        self.keys = keys
        self.values = values
        self.blockSize = blockSize
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    /// Start of (block, kvHead) in `keys` or `values`.
    @inline(__always)
    func base(block: Int, kvHead: Int) -> Int {
        (block * kvHeads + kvHead) * blockSize * headDim
    }

    /// Writes one token's K and V (all kv heads, contiguous) into `slot` = block × blockSize + offset.
    @inline(__always)
    public func store(slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        let round = precision == .float16
        for h in 0..<kvHeads {
            let b = base(block: block, kvHead: h)
            for j in 0..<headDim {
                let k = key[h * headDim + j], v = value[h * headDim + j]
                keys[b + j * blockSize + inBlock] = round ? Float(Float16(k)) : k
                values[b + inBlock * headDim + j] = round ? Float(Float16(v)) : v
            }
        }
    }

    /// The key of `slot` for `kvHead` (for tests and debugging).
    public func key(slot: Int, kvHead: Int) -> [Float] {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        let b = base(block: block, kvHead: kvHead)
        return (0..<headDim).map { keys[b + $0 * blockSize + inBlock] }
    }
}

/// Attention of one query head over a paged context, with an online softmax
/// (FlashAttention's recurrence: one pass over the blocks, no score matrix).
///
/// - Parameters:
///   - query: `headDim` floats.
///   - blockTable: the sequence's block ids, in position order.
///   - contextLength: attend to positions `0..<contextLength`.
///   - out: `headDim` floats of output.
@inline(__always)
public func pagedAttention(query: UnsafePointer<Float>, kvHead: Int, layer: KVLayerView,
                           blockTable: UnsafePointer<Int32>, contextLength: Int, scale: Float,
                           out: UnsafeMutablePointer<Float>) {
    let d = layer.headDim, bs = layer.blockSize
    if d == 64 && bs == 16 {
        pagedAttention64(queries: query, count: 1, kvHead: kvHead, layer: layer, blockTable: blockTable,
                         contextLength: contextLength, scale: scale, out: out)
        return
    }
    out.initialize(repeating: 0, count: d)
    var runningMax = -Float.infinity
    var denominator: Float = 0
    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(bs, 16)) { buffer in
        let scores = buffer.baseAddress!
        var start = 0
        var blockIndex = 0
        while start < contextLength {
            let n = min(bs, contextLength - start)
            let base = layer.base(block: Int(blockTable[blockIndex]), kvHead: kvHead)
            blockScores(query, keys: layer.keys + base, blockSize: bs, headDim: d, scale: scale, into: scores)
            var blockMax = -Float.infinity
            for j in 0..<n { blockMax = max(blockMax, scores[j]) }
            if blockMax > runningMax {
                let correction = expf(runningMax - blockMax)
                denominator *= correction
                Kernels.scale(out, by: correction, d)
                runningMax = blockMax
            }
            exponentiate(scores, count: n, minus: runningMax)
            let v = layer.values + base
            for j in 0..<n {
                denominator += scores[j]
                axpy(scores[j], v + j * d, out, d)
            }
            start += n
            blockIndex += 1
        }
    }
    Kernels.scale(out, by: 1 / denominator, d)
}

/// `pagedAttention` for up to 4 query heads that share one KV head (grouped-query attention),
/// 64 wide in blocks of 16: each key block is loaded once for all of them, and their score sums
/// run as independent chains (one head's 64-step sum is bound by the FMA latency). With
/// `count` 1 it is `pagedAttention`'s kernel for 64-wide heads, so a head gets the same bits
/// whether it runs alone or grouped (batch invariance rests on this).
///
/// - Parameters:
///   - queries: `count` heads of 64 floats, one after another.
///   - out: `count` heads of 64 floats of output.
public func pagedAttention64(queries: UnsafePointer<Float>, count: Int, kvHead: Int, layer: KVLayerView,
                             blockTable: UnsafePointer<Int32>, contextLength: Int, scale: Float,
                             out: UnsafeMutablePointer<Float>) {
    precondition(layer.headDim == 64 && layer.blockSize == 16 && (1...4).contains(count))
    out.initialize(repeating: 0, count: count * 64)
    var runningMax = SIMD4<Float>(repeating: -.infinity), denominator = SIMD4<Float>()
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 16) { buffer in
        let scores = buffer.baseAddress!
        var start = 0, blockIndex = 0
        while start < contextLength {
            let n = min(16, contextLength - start)
            let base = layer.base(block: Int(blockTable[blockIndex]), kvHead: kvHead)
            if start + 16 < contextLength { prefetchBlock(layer, Int(blockTable[blockIndex + 1]), kvHead: kvHead) }
            groupScores64(queries, count: count, keys: layer.keys + base, scale: scale, into: scores)
            let v = UnsafePointer(layer.values + base)
            for h in 0..<count {
                let p = scores + h * 16, o = out + h * 64
                var blockMax = -Float.infinity
                for j in 0..<n { blockMax = max(blockMax, p[j]) }
                var o0 = load16(o), o1 = load16(o + 16), o2 = load16(o + 32), o3 = load16(o + 48)
                if blockMax > runningMax[h] {
                    let c = expf(runningMax[h] - blockMax)
                    denominator[h] *= c
                    let cv = Vec16(repeating: c)
                    o0 *= cv; o1 *= cv; o2 *= cv; o3 *= cv
                    runningMax[h] = blockMax
                }
                store16(exp16(load16(p) - Vec16(repeating: runningMax[h])), p)
                var sum = denominator[h]  // summed key by key: the same bits for any `count`
                for j in 0..<n {
                    let w = p[j], pw = Vec16(repeating: w), vj = v + j * 64
                    sum += w
                    o0 = o0.addingProduct(pw, load16(vj))
                    o1 = o1.addingProduct(pw, load16(vj + 16))
                    o2 = o2.addingProduct(pw, load16(vj + 32))
                    o3 = o3.addingProduct(pw, load16(vj + 48))
                }
                denominator[h] = sum
                store16(o0, o); store16(o1, o + 16); store16(o2, o + 32); store16(o3, o + 48)
            }
            start += n
            blockIndex += 1
        }
    }
    for h in 0..<count { Kernels.scale(out + h * 64, by: 1 / denominator[h], 64) }
}

/// scores[h · 16 + j] = scale · q_h · k_j for `count` (1…4) 64-wide heads over one block of 16
/// transposed keys; two chains per head (even and odd dimensions).
@inline(__always)
func groupScores64(_ q: UnsafePointer<Float>, count: Int, keys: UnsafePointer<Float>, scale: Float,
                   into scores: UnsafeMutablePointer<Float>) {
    var a0 = Vec16(), b0 = Vec16(), a1 = Vec16(), b1 = Vec16(), a2 = Vec16(), b2 = Vec16(), a3 = Vec16(), b3 = Vec16()
    var i = 0
    while i < 64 {
        let k0 = load16(keys + i * 16), k1 = load16(keys + (i + 1) * 16)
        a0 = a0.addingProduct(Vec16(repeating: q[i]), k0)
        b0 = b0.addingProduct(Vec16(repeating: q[i + 1]), k1)
        if count > 1 {
            a1 = a1.addingProduct(Vec16(repeating: q[64 + i]), k0)
            b1 = b1.addingProduct(Vec16(repeating: q[64 + i + 1]), k1)
        }
        if count > 2 {
            a2 = a2.addingProduct(Vec16(repeating: q[128 + i]), k0)
            b2 = b2.addingProduct(Vec16(repeating: q[128 + i + 1]), k1)
        }
        if count > 3 {
            a3 = a3.addingProduct(Vec16(repeating: q[192 + i]), k0)
            b3 = b3.addingProduct(Vec16(repeating: q[192 + i + 1]), k1)
        }
        i += 2
    }
    let s = Vec16(repeating: scale)
    store16((a0 + b0) * s, scores)
    if count > 1 { store16((a1 + b1) * s, scores + 16) }
    if count > 2 { store16((a2 + b2) * s, scores + 32) }
    if count > 3 { store16((a3 + b3) * s, scores + 48) }
}

/// Prefetches a KV block's keys and values (while the current block is being computed).
@inline(__always)
func prefetchBlock(_ layer: KVLayerView, _ block: Int, kvHead: Int) {
    let base = layer.base(block: block, kvHead: kvHead), bytes = Int64(layer.blockSize * layer.headDim * 4)
    pg_prefetch(layer.keys + base, bytes)
    pg_prefetch(layer.values + base, bytes)
}

/// scores[j] = scale · q · k_j for the `blockSize` keys of one block (keys transposed: `[d][slot]`).
@inline(__always)
func blockScores(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, blockSize bs: Int, headDim d: Int, scale: Float,
                 into scores: UnsafeMutablePointer<Float>) {
    if bs == 16 {
        var acc0 = Vec16(), acc1 = Vec16()
        var i = 0
        while i + 1 < d {
            acc0 = acc0.addingProduct(Vec16(repeating: q[i]), load16(keys + i * 16))
            acc1 = acc1.addingProduct(Vec16(repeating: q[i + 1]), load16(keys + (i + 1) * 16))
            i += 2
        }
        if i < d { acc0 = acc0.addingProduct(Vec16(repeating: q[i]), load16(keys + i * 16)) }
        store16((acc0 + acc1) * Vec16(repeating: scale), scores)
    } else {
        for j in 0..<bs {
            var s: Float = 0
            for i in 0..<d { s += q[i] * keys[i * bs + j] }
            scores[j] = s * scale
        }
    }
}

/// x[j] = exp(x[j] − m) for j < count.
@inline(__always)
func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, minus m: Float) {
    var j = 0
    let vm = Vec16(repeating: m)
    while j + 16 <= count {
        store16(exp16(load16(x + j) - vm), x + j)
        j += 16
    }
    while j < count { x[j] = expf(x[j] - m); j += 1 }
}
