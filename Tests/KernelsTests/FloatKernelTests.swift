import Foundation
import Kernels
import TestSupport
import Testing

struct FloatKernelTests {
    @Test func threadPoolRunsEveryIndexOnce() {
        let pool = ThreadPool(threadCount: 3)
        for n in [0, 1, 2, 7, 1000] {
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(n, 1))
            hits.initialize(repeating: 0)
            pool.parallelFor(n) { i in hits[i] += 1 }
            #expect(hits.prefix(n).allSatisfy { $0 == 1 })
            hits.deallocate()
        }
        var covered = [Int](repeating: 0, count: 103)
        covered.withUnsafeMutableBufferPointer { c in
            pool.parallelRanges(103, granularity: 4) { range in
                #expect(range.lowerBound % 4 == 0)
                for i in range { c[i] += 1 }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }

    /// SwiGLU's gate against x·σ(x)·up in double precision: vector lanes and the scalar tail,
    /// gates far out on both sides.
    @Test func siluMulMatchesDefinition() {
        var rng = SeededRandom(seed: 12)
        let n = 37
        var gate = (0..<n).map { _ in Float.random(in: -8...8, using: &rng) }
        gate[0] = -120; gate[1] = 120; gate[2] = 0; gate[33] = -95
        let up = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
        let expected = zip(gate, up).map { g, u in Double(g) / (1 + exp(-Double(g))) * Double(u) }
        siluMul(&gate, up, n)
        for (g, e) in zip(gate, expected) { #expect(abs(Double(g) - e) <= 1e-5 * max(1, abs(e)), "\(g) vs \(e)") }
    }

    @Test func rmsNormMatchesDefinition() {
        let x: [Float] = (0..<37).map { Float($0) * 0.1 - 1 }
        let w: [Float] = (0..<37).map { 1 + Float($0) * 0.01 }
        var out = [Float](repeating: 0, count: 37)
        rmsNorm(x, weight: w, eps: 1e-5, into: &out, 37)
        let rms = (x.map { $0 * $0 }.reduce(0, +) / 37 + 1e-5).squareRoot()
        for i in 0..<37 { #expect(abs(out[i] - x[i] / rms * w[i]) < 1e-5) }
    }

    @Test func ropeLayoutsRotateTheRightPairs() {
        let dims = 8
        for layout in [Rope.Layout.interleaved, .neox] {
            let rope = Rope(layout: layout, dimensions: dims, base: 10_000)
            var v: [Float] = (0..<dims).map { Float($0 + 1) }
            let original = v
            rope.apply(&v, heads: 1, headDim: dims, position: 3)
            for i in 0..<dims / 2 {
                let theta = 3 * Float(pow(10_000.0, -2 * Double(i) / Double(dims)))
                let (a, b) = layout == .interleaved ? (2 * i, 2 * i + 1) : (i, i + dims / 2)
                #expect(abs(v[a] - (original[a] * cos(theta) - original[b] * sin(theta))) < 1e-5)
                #expect(abs(v[b] - (original[a] * sin(theta) + original[b] * cos(theta))) < 1e-5)
            }
        }
        // Only the first `dimensions` of a head rotate.
        let partial = Rope(layout: .neox, dimensions: 4, base: 100)
        var v: [Float] = [1, 2, 3, 4, 5, 6]
        partial.apply(&v, heads: 1, headDim: 6, position: 5)
        #expect(v[4] == 5 && v[5] == 6)
    }

    /// A rope's shared table gives the bits its angles computed on the fly give, inside the
    /// table and past it.
    @Test func ropeTableGivesTheSameBits() {
        for layout in [Rope.Layout.interleaved, .neox] {
            let plain = Rope(layout: layout, dimensions: 64, base: 10_000, linearScalingFactor: 2)
            let tabled = Rope(layout: layout, dimensions: 64, base: 10_000, linearScalingFactor: 2, tablePositions: 100)
            for position in [0, 1, 57, 99, 100, 4000] {
                var a: [Float] = (0..<192).map { sin(Float($0) * 0.37) }
                var b = a
                plain.apply(&a, heads: 3, headDim: 64, position: position)
                tabled.apply(&b, heads: 3, headDim: 64, position: position)
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(layout) at \(position)")
            }
        }
    }

    /// Paged attention with blocks out of order against a dense softmax: a generic shape, and
    /// the 64-wide heads in blocks of 16 that have their own kernel (a ragged last block whose
    /// unused slots hold NaN, which must not leak in).
    @Test(arguments: KVPrecision.allCases, [(headDim: 20, blockSize: 4, context: 17), (headDim: 64, blockSize: 16, context: 70)])
    func pagedAttentionMatchesDenseSoftmax(precision: KVPrecision, shape: (headDim: Int, blockSize: Int, context: Int)) {
        let (headDim, blockSize, context) = shape
        let blockTable: [Int32] = [5, 2, 0, 3, 1]
        var rng = SeededRandom(seed: 3)
        let kv = RandomKVLayer(headDim: headDim, blockSize: blockSize, precision: precision, blockTable: blockTable, context: context, rng: &rng)
        defer { withExtendedLifetime(kv) {} }  // it owns the buffers `layer` points into
        let layer = kv.layer, denseK = kv.denseK, denseV = kv.denseV
        let q = (0..<headDim).map { _ in Float.random(in: -2...2, using: &rng) }
        var out = [Float](repeating: 0, count: headDim)
        pagedAttention(queries: q, kvHead: 1, layer: layer, blockTable: blockTable, contextLength: context, scale: 0.3, out: &out)
        let scores = denseK.map { k in zip(q, k).map { $0 * $1 }.reduce(0, +) * 0.3 }
        let m = scores.max()!
        let e = scores.map { exp($0 - m) }
        let z = e.reduce(0, +)
        for j in 0..<headDim {
            let expected = (0..<context).map { e[$0] / z * denseV[$0][j] }.reduce(0, +)
            #expect(abs(out[j] - expected) < 1e-5)
        }
    }
}

/// The grouped-query kernel gives each head exactly what the one-head kernel gives it.
@Test(arguments: [1, 2, 3, 4])
func groupedAttentionEqualsOneHeadAtATime(count: Int) {
    let headDim = 64, context = 77
    let blockTable: [Int32] = [4, 1, 5, 0, 2]
    var rng = SeededRandom(seed: UInt64(30 + count))
    let kv = RandomKVLayer(headDim: headDim, blockSize: 16, precision: .float16, blockTable: blockTable, context: context, rng: &rng)
    defer { withExtendedLifetime(kv) {} }  // it owns the buffers `layer` points into
    let layer = kv.layer
    let q = (0..<(count * headDim)).map { _ in Float.random(in: -3...3, using: &rng) }
    var grouped = [Float](repeating: .nan, count: count * headDim)
    pagedAttention(queries: q, count: count, kvHead: 1, layer: layer, blockTable: blockTable, contextLength: context, scale: 0.125, out: &grouped)
    for h in 0..<count {
        var one = [Float](repeating: .nan, count: headDim)
        q.withUnsafeBufferPointer { qb in
            pagedAttention(queries: qb.baseAddress! + h * headDim, kvHead: 1, layer: layer, blockTable: blockTable, contextLength: context,
                           scale: 0.125, out: &one)
        }
        #expect(Array(grouped[(h * headDim)..<((h + 1) * headDim)]) == one, "head \(h)")
    }
}

/// A paged KV layer of 6 blocks (or as many as `blockTable` names) × 2 KV heads, NaN wherever nothing was stored, holding `context`
/// random tokens placed through `blockTable`; `denseK`/`denseV` are KV head 1's as stored.
final class RandomKVLayer {
    let layer: KVLayerView
    private(set) var denseK: [[Float]] = [], denseV: [[Float]] = []
    private let keys, values: UnsafeMutableRawPointer

    init(headDim: Int, blockSize: Int, precision: KVPrecision, blockTable: [Int32], context: Int, rng: inout SeededRandom) {
        let kvHeads = 2, count = max(6, Int(blockTable.max() ?? 0) + 1) * blockSize * kvHeads * headDim
        keys = .allocate(byteCount: count * precision.bytes, alignment: 64)
        values = .allocate(byteCount: count * precision.bytes, alignment: 64)
        // NaN in every unused slot (0xFF bytes are a NaN in each element type).
        keys.initializeMemory(as: UInt8.self, repeating: 0xFF, count: count * precision.bytes)
        values.initializeMemory(as: UInt8.self, repeating: 0xFF, count: count * precision.bytes)
        layer = KVLayerView(keys: keys, values: values, blockSize: blockSize, kvHeads: kvHeads, headDim: headDim, precision: precision)
        let stored = precision.rounded
        for p in 0..<context {
            let k = (0..<(kvHeads * headDim)).map { _ in Float.random(in: -1...1, using: &rng) }
            let v = (0..<(kvHeads * headDim)).map { _ in Float.random(in: -1...1, using: &rng) }
            layer.store(slot: Int(blockTable[p / blockSize]) * blockSize + p % blockSize, key: k, value: v)
            denseK.append(k[headDim..<(2 * headDim)].map(stored))
            denseV.append(v[headDim..<(2 * headDim)].map(stored))
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }
}

struct VectorExpTests {
    @Test func exp16MatchesExpf() {
        var rng = SeededRandom(seed: 8)
        for _ in 0..<2000 {
            var x = Vec16()
            for i in 0..<16 { x[i] = Float.random(in: -90...20, using: &rng) }
            let y = exp16(x)
            for i in 0..<16 {
                let e = expf(x[i])
                #expect(abs(y[i] - e) <= 1e-6 * e + 2e-38, "exp(\(x[i])) = \(e), got \(y[i])")
            }
        }
        let special = exp16(Vec16(repeating: -.infinity))
        #expect(special == Vec16(repeating: 0))
        #expect(exp16(Vec16(repeating: 0)) == Vec16(repeating: 1))
    }
}

/// A tile of consecutive query tokens gives each token the bits it gets alone (causal: token t
/// sees one more key than token t − 1), on every element type and on the generic shape.
@Test(arguments: KVPrecision.allCases, [(headDim: 64, blockSize: 16), (headDim: 20, blockSize: 4)])
func queryTileEqualsOneTokenAtATime(precision: KVPrecision, shape: (headDim: Int, blockSize: Int)) {
    let (d, bs) = shape, heads = 3, tokens = 4, firstContext = 14
    let blockTable: [Int32] = [4, 1, 5, 0, 2]
    let context = min(firstContext + tokens - 1, 5 * bs)
    var rng = SeededRandom(seed: 50)
    let kv = RandomKVLayer(headDim: d, blockSize: bs, precision: precision, blockTable: blockTable, context: context, rng: &rng)
    defer { withExtendedLifetime(kv) {} }
    let q = (0..<(tokens * heads * d)).map { _ in Float.random(in: -3...3, using: &rng) }
    var tiled = [Float](repeating: .nan, count: tokens * heads * d)
    var maxima = [Float](repeating: 0, count: tokens * heads), sums = maxima
    q.withUnsafeBufferPointer { qb in
        tiled.withUnsafeMutableBufferPointer { out in
            let acc = AttentionAccumulator(output: out.baseAddress!, tokenStride: heads * d, maxima: &maxima, sums: &sums)
            pagedAttention(AttentionQueries(qb.baseAddress!, heads: heads, tokens: tokens, tokenStride: heads * d, firstContext: firstContext),
                           kvHead: 1, layer: kv.layer, blockTable: blockTable, blocks: 0..<5, scale: 0.2, into: acc)
            for i in 0..<(tokens * heads) { normalizeAttention(out.baseAddress! + i * d, sum: sums[i], headDim: d) }
        }
        for t in 0..<tokens {
            var alone = [Float](repeating: .nan, count: heads * d)
            pagedAttention(queries: qb.baseAddress! + t * heads * d, count: heads, kvHead: 1, layer: kv.layer, blockTable: blockTable,
                           contextLength: firstContext + t, scale: 0.2, out: &alone)
            #expect(Array(tiled[(t * heads * d)..<((t + 1) * heads * d)]) == alone, "token \(t)")
        }
    }
}

/// Flash-decoding: partial results over disjoint block ranges, merged, match the one-pass result.
@Test(arguments: KVPrecision.allCases)
func mergedPartitionsMatchOnePass(precision: KVPrecision) {
    let d = 64, context = 77
    let blockTable: [Int32] = [4, 1, 5, 0, 2]
    var rng = SeededRandom(seed: 60)
    let kv = RandomKVLayer(headDim: d, blockSize: 16, precision: precision, blockTable: blockTable, context: context, rng: &rng)
    defer { withExtendedLifetime(kv) {} }
    let q = (0..<d).map { _ in Float.random(in: -3...3, using: &rng) }
    var whole = [Float](repeating: 0, count: d)
    pagedAttention(queries: q, kvHead: 1, layer: kv.layer, blockTable: blockTable, contextLength: context, scale: 0.3, out: &whole)
    for cuts in [[0, 2, 5], [0, 1, 3, 4, 5], [0, 4, 5]] {
        let parts = cuts.count - 1
        var rows = [Float](repeating: .nan, count: parts * d), maxima = [Float](repeating: 0, count: parts), sums = maxima
        for p in 0..<parts {
            rows.withUnsafeMutableBufferPointer { r in
                maxima.withUnsafeMutableBufferPointer { m in
                    sums.withUnsafeMutableBufferPointer { s in
                        let acc = AttentionAccumulator(output: r.baseAddress! + p * d, tokenStride: 0, maxima: m.baseAddress! + p,
                                                       sums: s.baseAddress! + p)
                        pagedAttention(AttentionQueries(q, heads: 1, firstContext: context), kvHead: 1, layer: kv.layer,
                                       blockTable: blockTable, blocks: cuts[p]..<cuts[p + 1], scale: 0.3, into: acc)
                    }
                }
            }
        }
        var merged = [Float](repeating: .nan, count: d)
        mergeAttention(rows: rows, maxima: maxima, sums: sums, parts: parts, rowStride: d, scalarStride: 1, headDim: d, into: &merged)
        for j in 0..<d { #expect(abs(merged[j] - whole[j]) <= 1e-5 * max(1, abs(whole[j])), "cuts \(cuts), dim \(j)") }
    }
}

/// bfloat16 stores round to nearest even and read back exactly; NaN stays NaN.
@Test func bfloat16RoundsToNearestEven() {
    let r = KVPrecision.bfloat16.rounded
    #expect(r(1) == 1)
    #expect(r(Float(bitPattern: 0x3F80_8000)) == 1)  // a tie rounds to the even mantissa
    #expect(r(Float(bitPattern: 0x3F81_8000)) == Float(bitPattern: 0x3F82_0000))
    #expect(r(Float(bitPattern: 0x3F80_8001)) == Float(bitPattern: 0x3F81_0000))
    #expect(r(-2.5) == -2.5)
    #expect(r(.nan).isNaN)
    #expect(r(.infinity) == .infinity)
}
