import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Query tokens for the attention kernels: `tokens` consecutive tokens of one sequence, each with
/// `heads` query heads of `headDim` floats, one after another, that share one KV head. Token `t`
/// attends to positions `0..<firstContext + t` (causal: later keys are never read), or with a
/// sliding `window` to the last `window` of them.
public struct AttentionQueries {
    public var pointer: UnsafePointer<Float>
    public var heads: Int
    public var tokens: Int
    /// Floats from one token's first head to the next token's.
    public var tokenStride: Int
    public var firstContext: Int
    /// Positions each query sees, its own included (llama.cpp's SWA: a key at p0 is visible from
    /// p1 when p1 - p0 < window); 0 for all of them.
    public var window: Int

    public init(_ pointer: UnsafePointer<Float>, heads: Int, tokens: Int = 1, tokenStride: Int = 0, firstContext: Int, window: Int = 0) {
        self.pointer = pointer
        self.heads = heads
        self.tokens = tokens
        self.tokenStride = tokenStride
        self.firstContext = firstContext
        self.window = window
    }

    var lastContext: Int { firstContext + tokens - 1 }

    /// First position token `t` sees.
    @inline(__always)
    func firstVisible(_ t: Int) -> Int { window > 0 ? max(0, firstContext + t - window) : 0 }
}

/// The online-softmax state of every (token, head) of an ``AttentionQueries``: the output rows
/// (unnormalized, laid out like the queries), the running maximum and the running sum of
/// exponentials (at `t × heads + h`).
public struct AttentionAccumulator {
    public var output: UnsafeMutablePointer<Float>
    public var tokenStride: Int
    public var maxima: UnsafeMutablePointer<Float>
    public var sums: UnsafeMutablePointer<Float>

    public init(output: UnsafeMutablePointer<Float>, tokenStride: Int, maxima: UnsafeMutablePointer<Float>,
                sums: UnsafeMutablePointer<Float>) {
        self.output = output
        self.tokenStride = tokenStride
        self.maxima = maxima
        self.sums = sums
    }
}

/// FlashAttention's recurrence over a paged context: for each block of keys in `blocks` (indices
/// into `blockTable`), the scores of every query that reaches it, then the running max, sum and
/// output rescaled and accumulated. No score matrix; a key block is loaded once for all the
/// queries of the tile; blocks past the last query's context are skipped, and within a block each
/// query stops at its own position. Leaves the accumulator unnormalized, so partial results over
/// disjoint block ranges can be merged (``mergeAttention(_:parts:partStride:headDim:into:)``).
///
/// A query's result does not depend on which other queries share the call (each has its own
/// dependency chains and the same operation order), which batch invariance rests on.
public func pagedAttention(_ q: AttentionQueries, kvHead: Int, layer: KVLayerView, blockTable: UnsafePointer<Int32>,
                           blocks: Range<Int>, scale: Float, into acc: AttentionAccumulator) {
    switch layer.precision {
    case .float32: attend(Float32Element.self, q, kvHead, layer, blockTable, blocks, scale, acc)
    case .float16: attend(Float16Element.self, q, kvHead, layer, blockTable, blocks, scale, acc)
    case .bfloat16: attend(BFloat16Element.self, q, kvHead, layer, blockTable, blocks, scale, acc)
    }
}

/// Attention of `count` query heads sharing `kvHead` over positions `0..<contextLength`,
/// normalized (the whole context in one pass).
public func pagedAttention(queries: UnsafePointer<Float>, count: Int = 1, kvHead: Int, layer: KVLayerView,
                           blockTable: UnsafePointer<Int32>, contextLength: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * count) { state in
        let acc = AttentionAccumulator(output: out, tokenStride: 0, maxima: state.baseAddress!, sums: state.baseAddress! + count)
        let blocks = (contextLength + layer.blockSize - 1) / layer.blockSize
        pagedAttention(AttentionQueries(queries, heads: count, firstContext: contextLength), kvHead: kvHead, layer: layer,
                       blockTable: blockTable, blocks: 0..<blocks, scale: scale, into: acc)
        for h in 0..<count { normalizeAttention(out + h * layer.headDim, sum: acc.sums[h], headDim: layer.headDim) }
    }
}

/// Divides an output row by its softmax denominator.
@inline(__always)
public func normalizeAttention(_ row: UnsafeMutablePointer<Float>, sum: Float, headDim: Int) {
    Kernels.scale(row, by: 1 / sum, headDim)
}

/// Merges `parts` partial results of one (token, head) over disjoint key ranges (flash-decoding's
/// reduction): part `p`'s row is at `rows + p × partStride`, its max and sum at `maxima[p × stride]`
/// and `sums[p × stride]` (the same `partStride` in floats, counted in rows for the scalars).
public func mergeAttention(rows: UnsafePointer<Float>, maxima: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                           parts: Int, rowStride: Int, scalarStride: Int, headDim d: Int, into out: UnsafeMutablePointer<Float>) {
    var m = -Float.infinity
    for p in 0..<parts { m = max(m, maxima[p * scalarStride]) }
    var total: Float = 0
    out.initialize(repeating: 0, count: d)
    for p in 0..<parts {
        let w = maxima[p * scalarStride] == -.infinity ? 0 : expf(maxima[p * scalarStride] - m)
        total += w * sums[p * scalarStride]
        axpy(w, rows + p * rowStride, out, d)
    }
    Kernels.scale(out, by: 1 / total, d)
}

@inline(__always)
func attend<E: KVElement>(_ e: E.Type, _ q: AttentionQueries, _ kvHead: Int, _ layer: KVLayerView,
                          _ blockTable: UnsafePointer<Int32>, _ blocks: Range<Int>, _ scale: Float, _ acc: AttentionAccumulator) {
    let d = layer.headDim
    for t in 0..<q.tokens {
        for h in 0..<q.heads {
            (acc.output + t * acc.tokenStride + h * d).initialize(repeating: 0, count: d)
            acc.maxima[t * q.heads + h] = -.infinity
            acc.sums[t * q.heads + h] = 0
        }
    }
    let end = min(blocks.upperBound, (q.lastContext + layer.blockSize - 1) / layer.blockSize)
    // Blocks before the first token's window are never read (a sliding-window group frees them).
    let start = max(blocks.lowerBound, q.firstVisible(0) / layer.blockSize)
    if start >= end { return }
    if layer.blockSize == 16 && d % 16 == 0 && d <= 256 {
        attend16(e, q, kvHead, layer, blockTable, start..<end, scale, acc)
    } else {
        attendAnyShape(e, q, kvHead, layer, blockTable, start..<end, scale, acc)
    }
}

/// Blocks of 16 keys, heads a multiple of 16 wide: a block's 16 scores are one vector.
@inline(__always)
func attend16<E: KVElement>(_ e: E.Type, _ q: AttentionQueries, _ kvHead: Int, _ layer: KVLayerView,
                            _ blockTable: UnsafePointer<Int32>, _ blocks: Range<Int>, _ scale: Float, _ acc: AttentionAccumulator) {
    let d = layer.headDim
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 16) { buffer in
        let scores = buffer.baseAddress!
        for b in blocks {
            let start = b * 16
            let base = layer.base(block: Int(blockTable[b]), kvHead: kvHead)
            if b + 1 < blocks.upperBound { prefetchBlock(layer, Int(blockTable[b + 1]), kvHead: kvHead) }
            for t in 0..<q.tokens where q.firstContext + t > start && q.firstVisible(t) < start + 16 {
                let n = min(16, q.firstContext + t - start), first = max(0, q.firstVisible(t) - start)
                var h0 = 0
                while h0 < q.heads {
                    let count = min(4, q.heads - h0)
                    groupScores(e, q.pointer + t * q.tokenStride + h0 * d, count: count, headDim: d, keys: layer.keys, base: base,
                                scale: scale, into: scores)
                    var corrections = SIMD4<Float>(repeating: 1)
                    for h in 0..<count {
                        let i = t * q.heads + h0 + h
                        corrections[h] = softmaxStep(scores + h * 16, first: first, n: n, max: &acc.maxima[i], sum: &acc.sums[i])
                    }
                    accumulateGroup(e, scores, count: count, first: first, n: n, values: layer.values, base: base, headDim: d,
                                    rows: acc.output + t * acc.tokenStride + h0 * d, corrections: corrections)
                    h0 += count
                }
            }
        }
    }
}

/// One head's online-softmax step over keys `first..<n` of one block: the new running max and
/// sum, the scores turned into weights in place; returns the factor that rescales the head's
/// output (1 when the max did not grow).
@inline(__always)
func softmaxStep(_ p: UnsafeMutablePointer<Float>, first: Int, n: Int, max runningMax: inout Float, sum: inout Float) -> Float {
    var blockMax = -Float.infinity
    for j in first..<n { blockMax = max(blockMax, p[j]) }
    var correction: Float = 1
    if blockMax > runningMax {
        correction = expf(runningMax - blockMax)
        sum *= correction
        runningMax = blockMax
    }
    store16(exp16(load16(p) - Vec16(repeating: runningMax)), p)
    for j in first..<n { sum += p[j] }
    return correction
}

/// The weighted values of one block added to `count` (1…4) heads' output rows at once (rows
/// `headDim` apart, weights 16 apart): each value vector is loaded and converted once for all
/// the heads that share it. Each head's row is rescaled, then takes the keys in order (the sum,
/// in ``softmaxStep(_:first:n:max:sum:)``, too, so no bit depends on the vector width).
@inline(__always)
func accumulateGroup<E: KVElement>(_: E.Type, _ p: UnsafePointer<Float>, count: Int, first: Int, n: Int, values: UnsafeRawPointer,
                                   base: Int, headDim d: Int, rows o: UnsafeMutablePointer<Float>, corrections: SIMD4<Float>) {
    var c = 0
    while c < d {
        var o0 = load16(o + c), o1 = Vec16(), o2 = Vec16(), o3 = Vec16()
        if corrections[0] != 1 { o0 *= Vec16(repeating: corrections[0]) }
        if count > 1 {
            o1 = load16(o + d + c)
            if corrections[1] != 1 { o1 *= Vec16(repeating: corrections[1]) }
        }
        if count > 2 {
            o2 = load16(o + 2 * d + c)
            if corrections[2] != 1 { o2 *= Vec16(repeating: corrections[2]) }
        }
        if count > 3 {
            o3 = load16(o + 3 * d + c)
            if corrections[3] != 1 { o3 *= Vec16(repeating: corrections[3]) }
        }
        if count == 4 {
            for j in first..<n {
                let v = E.load16(values, base &+ j &* d &+ c)
                o0 = o0.addingProduct(Vec16(repeating: p[j]), v)
                o1 = o1.addingProduct(Vec16(repeating: p[16 + j]), v)
                o2 = o2.addingProduct(Vec16(repeating: p[32 + j]), v)
                o3 = o3.addingProduct(Vec16(repeating: p[48 + j]), v)
            }
        } else {
            for j in first..<n {
                let v = E.load16(values, base &+ j &* d &+ c)
                o0 = o0.addingProduct(Vec16(repeating: p[j]), v)
                if count > 1 { o1 = o1.addingProduct(Vec16(repeating: p[16 + j]), v) }
                if count > 2 { o2 = o2.addingProduct(Vec16(repeating: p[32 + j]), v) }
            }
        }
        store16(o0, o + c)
        if count > 1 { store16(o1, o + d + c) }
        if count > 2 { store16(o2, o + 2 * d + c) }
        if count > 3 { store16(o3, o + 3 * d + c) }
        c += 16
    }
}

/// scores[h · 16 + j] = scale · q_h · k_j for `count` (1…4) heads over one block of 16
/// transposed keys; two chains per head (even and odd dimensions).
@inline(__always)
func groupScores<E: KVElement>(_: E.Type, _ q: UnsafePointer<Float>, count: Int, headDim d: Int, keys: UnsafeRawPointer, base: Int,
                               scale: Float, into scores: UnsafeMutablePointer<Float>) {
    var a0 = Vec16(), b0 = Vec16(), a1 = Vec16(), b1 = Vec16(), a2 = Vec16(), b2 = Vec16(), a3 = Vec16(), b3 = Vec16()
    var i = 0
    while i < d {
        let k0 = E.load16(keys, base &+ i &* 16), k1 = E.load16(keys, base &+ (i &+ 1) &* 16)
        a0 = a0.addingProduct(Vec16(repeating: q[i]), k0)
        b0 = b0.addingProduct(Vec16(repeating: q[i + 1]), k1)
        if count > 1 {
            a1 = a1.addingProduct(Vec16(repeating: q[d + i]), k0)
            b1 = b1.addingProduct(Vec16(repeating: q[d + i + 1]), k1)
        }
        if count > 2 {
            a2 = a2.addingProduct(Vec16(repeating: q[2 * d + i]), k0)
            b2 = b2.addingProduct(Vec16(repeating: q[2 * d + i + 1]), k1)
        }
        if count > 3 {
            a3 = a3.addingProduct(Vec16(repeating: q[3 * d + i]), k0)
            b3 = b3.addingProduct(Vec16(repeating: q[3 * d + i + 1]), k1)
        }
        i += 2
    }
    let s = Vec16(repeating: scale)
    store16((a0 + b0) * s, scores)
    if count > 1 { store16((a1 + b1) * s, scores + 16) }
    if count > 2 { store16((a2 + b2) * s, scores + 32) }
    if count > 3 { store16((a3 + b3) * s, scores + 48) }
}

/// Any block size and head width, one query head at a time, scalar (small test models).
func attendAnyShape<E: KVElement>(_: E.Type, _ q: AttentionQueries, _ kvHead: Int, _ layer: KVLayerView,
                                  _ blockTable: UnsafePointer<Int32>, _ blocks: Range<Int>, _ scale: Float, _ acc: AttentionAccumulator) {
    let d = layer.headDim, bs = layer.blockSize
    withUnsafeTemporaryAllocation(of: Float.self, capacity: bs) { buffer in
        let scores = buffer.baseAddress!
        for t in 0..<q.tokens {
            let context = q.firstContext + t, visible = q.firstVisible(t)
            for h in 0..<q.heads {
                let query = q.pointer + t * q.tokenStride + h * d, o = acc.output + t * acc.tokenStride + h * d
                var runningMax = acc.maxima[t * q.heads + h], sum = acc.sums[t * q.heads + h]
                for b in blocks where b * bs < context && (b + 1) * bs > visible {
                    let n = min(bs, context - b * bs), first = max(0, visible - b * bs)
                    let base = layer.base(block: Int(blockTable[b]), kvHead: kvHead)
                    var blockMax = -Float.infinity
                    for j in first..<n {
                        var s: Float = 0
                        for i in 0..<d { s += query[i] * E.load(layer.keys, base + i * bs + j) }
                        scores[j] = s * scale
                        blockMax = max(blockMax, scores[j])
                    }
                    if blockMax > runningMax {
                        let c = expf(runningMax - blockMax)
                        sum *= c
                        Kernels.scale(o, by: c, d)
                        runningMax = blockMax
                    }
                    for j in first..<n {
                        let w = expf(scores[j] - runningMax)
                        sum += w
                        for i in 0..<d { o[i] += w * E.load(layer.values, base + j * d + i) }
                    }
                }
                acc.maxima[t * q.heads + h] = runningMax
                acc.sums[t * q.heads + h] = sum
            }
        }
    }
}

/// Prefetches a KV block's keys and values (while the current block is being computed).
@inline(__always)
func prefetchBlock(_ layer: KVLayerView, _ block: Int, kvHead: Int) {
    let bytes = layer.blockSize * layer.headDim * layer.precision.bytes
    let offset = layer.base(block: block, kvHead: kvHead) * layer.precision.bytes
    pg_prefetch(layer.keys + offset, Int64(bytes))
    pg_prefetch(layer.values + offset, Int64(bytes))
}
