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

/// The running state of flash-decoding's reduction for one (token, head): the largest key score
/// so far and the softmax denominator at that max.
public struct AttentionFold {
    public var max = -Float.infinity
    public var total: Float = 0
    public init() {}
}

/// Folds one part's unnormalized row (its max and sum, over keys after those already folded) into
/// `out` and `state`, online softmax over parts: the first part is copied, a later one rescales
/// whichever side has the smaller max. A part that saw no key (max -∞) adds nothing. Every path
/// that splits a context folds its parts in key order through this, so the bits depend only on
/// the split, which depends only on the context.
@inline(__always)
public func foldAttention(row: UnsafePointer<Float>, max m: Float, sum s: Float, into out: UnsafeMutablePointer<Float>,
                          state: inout AttentionFold, headDim d: Int) {
    if m == -.infinity { return }
    if state.max == -.infinity {
        out.update(from: row, count: d)
        state.max = m
        state.total = s
        return
    }
    if m > state.max {
        let c = expf(state.max - m)
        Kernels.scale(out, by: c, d)
        state.total *= c
        state.max = m
    }
    let w = expf(m - state.max)
    state.total += w * s
    axpy(w, row, out, d)
}

/// Merges `parts` partial results of one (token, head) over disjoint key ranges, in key order
/// (flash-decoding's reduction): part `p`'s row is at `rows + p × rowStride`, its max and sum at
/// `maxima[p × scalarStride]` and `sums[p × scalarStride]`.
public func mergeAttention(rows: UnsafePointer<Float>, maxima: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                           parts: Int, rowStride: Int, scalarStride: Int, headDim d: Int, into out: UnsafeMutablePointer<Float>) {
    var state = AttentionFold()
    zero(out, d)
    for p in 0..<parts {
        foldAttention(row: rows + p * rowStride, max: maxima[p * scalarStride], sum: sums[p * scalarStride], into: out, state: &state,
                      headDim: d)
    }
    Kernels.scale(out, by: 1 / state.total, d)
}

@inline(__always)
func attend<E: KVElement>(_ e: E.Type, _ q: AttentionQueries, _ kvHead: Int, _ layer: KVLayerView,
                          _ blockTable: UnsafePointer<Int32>, _ blocks: Range<Int>, _ scale: Float, _ acc: AttentionAccumulator) {
    let d = layer.headDim
    for t in 0..<q.tokens {
        for h in 0..<q.heads {
            zero(acc.output + t * acc.tokenStride + h * d, d)
            acc.maxima[t * q.heads + h] = -.infinity
            acc.sums[t * q.heads + h] = 0
        }
    }
    let end = min(blocks.upperBound, (q.lastContext + layer.blockSize - 1) / layer.blockSize)
    // Blocks before the first token's window are never read (a sliding-window group frees them).
    let start = max(blocks.lowerBound, q.firstVisible(0) / layer.blockSize)
    if start >= end { return }
    if layer.blockSize == 16 && d % 16 == 0 && d <= 256 {
        var args = pg_attention_args(
            queries: q.pointer, heads: Int64(q.heads), tokens: Int64(q.tokens), query_stride: Int64(q.tokenStride),
            first_context: Int64(q.firstContext), window: Int64(q.window), keys: layer.keys, values: layer.values,
            precision: layer.precision.kernelCode, kv_heads: Int64(layer.kvHeads), kv_head: Int64(kvHead), head_dim: Int64(d),
            block_table: blockTable, block_start: Int64(start), block_end: Int64(end), scale: scale, output: acc.output,
            output_stride: Int64(acc.tokenStride), maxima: acc.maxima, sums: acc.sums)
        pg_attend16(&args)
    } else {
        attendAnyShape(e, q, kvHead, layer, blockTable, start..<end, scale, acc)
    }
}

/// Zeroes `count` floats with vector stores: a row is a few hundred bytes, and `memset` calls for
/// a step's thousands of rows were 1% of a verification step.
@inline(__always)
func zero(_ row: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 16 <= count {
        UnsafeMutableRawPointer(row + i).storeBytes(of: SIMD16<Float>(), as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        row[i] = 0
        i += 1
    }
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
