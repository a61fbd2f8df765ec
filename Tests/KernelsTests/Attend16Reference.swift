import CKernels
#if canImport(Glibc)
import Glibc
#endif
@testable import Kernels

// Kernels' Swift attention over blocks of 16 keys, as it was before the kernel moved to C
// (CKernels' attention.inc): the reference that kernel must match bit for bit wherever FMA is
// in hardware. Compiled with the CPU flags the tests are built with.

/// Blocks of 16 keys, heads a multiple of 16 wide: a block's 16 scores are one vector.
@inline(__always)
func referenceAttend16<E: KVElement>(_ e: E.Type, _ q: AttentionQueries, _ kvHead: Int, _ layer: KVLayerView,
                            _ blockTable: UnsafePointer<Int32>, _ blocks: Range<Int>, _ scale: Float, _ acc: AttentionAccumulator) {
    let d = layer.headDim
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 16 * referenceRun) { buffer in
        let scores = buffer.baseAddress!
        for b in blocks {
            let start = b * 16
            let base = layer.base(block: Int(blockTable[b]), kvHead: kvHead)
            if b + 1 < blocks.upperBound { prefetchBlock(layer, Int(blockTable[b + 1]), kvHead: kvHead) }
            for t in 0..<q.tokens where q.firstContext + t > start && q.firstVisible(t) < start + 16 {
                let context = q.firstContext + t, visible = q.firstVisible(t)
                let runStart = b - b % referenceRun
                if runStart >= blocks.lowerBound && runStart + referenceRun <= blocks.upperBound && visible <= runStart * 16
                    && context >= (runStart + referenceRun) * 16 {
                    if b == runStart {
                        let bases = (0..<referenceRun).map { layer.base(block: Int(blockTable[b + $0]), kvHead: kvHead) }
                        runStep(e, q, t, kvHead, layer, bases, scale, acc, scores)
                    }
                    continue
                }
                let n = min(16, context - start), first = max(0, visible - start)
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

/// Blocks a query that sees them whole takes as one softmax step (the kernel's PG_RUN): runs
/// start at multiples of it, inside the range attended.
let referenceRun = 4

/// Token t's heads over `referenceRun` whole blocks as one online-softmax step.
@inline(__always)
func runStep<E: KVElement>(_ e: E.Type, _ q: AttentionQueries, _ t: Int, _ kvHead: Int, _ layer: KVLayerView, _ bases: [Int],
                           _ scale: Float, _ acc: AttentionAccumulator, _ scores: UnsafeMutablePointer<Float>) {
    let d = layer.headDim, stride = 16 * referenceRun
    var h0 = 0
    while h0 < q.heads {
        let count = min(4, q.heads - h0)
        for r in 0..<referenceRun {
            groupScores(e, q.pointer + t * q.tokenStride + h0 * d, count: count, headDim: d, keys: layer.keys, base: bases[r],
                        scale: scale, into: scores + 16 * r, stride: stride)
        }
        var corrections = SIMD4<Float>(repeating: 1)
        for h in 0..<count {
            let i = t * q.heads + h0 + h, p = scores + h * stride
            var m = load16(p)
            for r in 1..<referenceRun { m = pointwiseMax(m, load16(p + 16 * r)) }
            let blockMax = m.max()
            if blockMax > acc.maxima[i] {
                corrections[h] = expf(acc.maxima[i] - blockMax)
                acc.sums[i] *= corrections[h]
                acc.maxima[i] = blockMax
            }
            var total = Vec16()
            for r in 0..<referenceRun {
                let w = exp16(load16(p + 16 * r) - Vec16(repeating: acc.maxima[i]))
                store16(w, p + 16 * r)
                total = r == 0 ? w : total + w
            }
            acc.sums[i] += horizontalSum(total)
        }
        for r in 0..<referenceRun {
            accumulateGroup(e, scores + 16 * r, stride: stride, count: count, first: 0, n: 16, values: layer.values, base: bases[r],
                            headDim: d, rows: acc.output + t * acc.tokenStride + h0 * d,
                            corrections: r == 0 ? corrections : SIMD4<Float>(repeating: 1))
        }
        h0 += count
    }
}

/// One head's online-softmax step over keys `first..<n` of one block: the new running max and
/// sum, the scores turned into weights in place; returns the factor that rescales the head's
/// output (1 when the max did not grow). The block's weights are summed as a vector
/// (``horizontalSum(_:)``), the invisible ones as zeros.
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
    let weights = exp16(load16(p) - Vec16(repeating: runningMax))
    store16(weights, p)
    var visible = Vec16()
    for j in first..<n { visible[j] = weights[j] }
    sum += horizontalSum(visible)
    return correction
}

/// The weighted values of one block added to `count` (1…4) heads' output rows at once (rows
/// `headDim` apart, weights 16 apart): each value vector is loaded and converted once for all
/// the heads that share it. Each head's row is rescaled, then takes the keys in order, so no
/// bit depends on the vector width.
@inline(__always)
func accumulateGroup<E: KVElement>(_: E.Type, _ p: UnsafePointer<Float>, stride: Int = 16, count: Int, first: Int, n: Int,
                                   values: UnsafeRawPointer, base: Int, headDim d: Int, rows o: UnsafeMutablePointer<Float>,
                                   corrections: SIMD4<Float>) {
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
                o1 = o1.addingProduct(Vec16(repeating: p[stride + j]), v)
                o2 = o2.addingProduct(Vec16(repeating: p[2 * stride + j]), v)
                o3 = o3.addingProduct(Vec16(repeating: p[3 * stride + j]), v)
            }
        } else {
            for j in first..<n {
                let v = E.load16(values, base &+ j &* d &+ c)
                o0 = o0.addingProduct(Vec16(repeating: p[j]), v)
                if count > 1 { o1 = o1.addingProduct(Vec16(repeating: p[stride + j]), v) }
                if count > 2 { o2 = o2.addingProduct(Vec16(repeating: p[2 * stride + j]), v) }
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
                               scale: Float, into scores: UnsafeMutablePointer<Float>, stride: Int = 16) {
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
    if count > 1 { store16((a1 + b1) * s, scores + stride) }
    if count > 2 { store16((a2 + b2) * s, scores + 2 * stride) }
    if count > 3 { store16((a3 + b3) * s, scores + 3 * stride) }
}

/// Prefetches a KV block's keys and values (while the current block is being computed).
@inline(__always)
func prefetchBlock(_ layer: KVLayerView, _ block: Int, kvHead: Int) {
    let bytes = layer.blockSize * layer.headDim * layer.precision.bytes
    let offset = layer.base(block: block, kvHead: kvHead) * layer.precision.bytes
    pg_prefetch(layer.keys + offset, Int64(bytes))
    pg_prefetch(layer.values + offset, Int64(bytes))
}
