import CKernels
import TestSupport
import Testing
@testable import Kernels

/// The C attention kernel at every instruction-set level this CPU has, against the Swift
/// reference it replaced: the same bits at the FMA levels (AVX2, AVX-512), and within float
/// rounding at the baseline level a plain `swift build` gets (fused multiply-adds through double,
/// halves widened with integer operations), on every KV element type, with ragged blocks
/// holding NaN, sliding windows, query tiles and runs of whole blocks.
struct AttentionKernelLevelTests {
    struct Shape: Sendable, CustomStringConvertible {
        var headDim: Int, heads: Int, tokens: Int, firstContext: Int, window: Int
        var description: String { "d\(headDim) h\(heads) t\(tokens) ctx\(firstContext) w\(window)" }
    }

    static let shapes = [
        Shape(headDim: 64, heads: 3, tokens: 1, firstContext: 70, window: 0),
        Shape(headDim: 64, heads: 6, tokens: 4, firstContext: 21, window: 0),
        Shape(headDim: 256, heads: 4, tokens: 2, firstContext: 75, window: 0),
        Shape(headDim: 32, heads: 1, tokens: 3, firstContext: 60, window: 20),
        // Runs of four whole blocks (one softmax step) beside single blocks: tokens on both
        // sides of the first run's end, and a window that starts inside block 3.
        Shape(headDim: 64, heads: 3, tokens: 4, firstContext: 62, window: 0),
        Shape(headDim: 32, heads: 2, tokens: 3, firstContext: 130, window: 80),
        // Calls of 8 or more tokens widen each half-precision block to floats once for all of
        // them: runs and single blocks, a window, and head sizes with a column tail (80 = 64 + 16).
        Shape(headDim: 64, heads: 3, tokens: 9, firstContext: 58, window: 0),
        Shape(headDim: 256, heads: 4, tokens: 8, firstContext: 121, window: 100),
        Shape(headDim: 80, heads: 2, tokens: 12, firstContext: 40, window: 0),
        // A verification step of 19 drafts in one tile (AttentionPlan.draftTileTokens).
        Shape(headDim: 64, heads: 3, tokens: 20, firstContext: 100, window: 0),
        // AVX-512 takes two tokens' heads over a run together (8 rows for 4 heads; 6 heads go as
        // 4 + 2), and an odd token alone.
        Shape(headDim: 64, heads: 4, tokens: 5, firstContext: 130, window: 0),
        Shape(headDim: 32, heads: 6, tokens: 3, firstContext: 70, window: 0),
    ]

    /// Output rows, maxima and sums of one kernel run (the state before normalizing).
    static func run(_ shape: Shape, _ kv: RandomKVLayer, _ q: [Float], blockTable: [Int32], level: Int?) -> [Float] {
        let (d, heads, tokens) = (shape.headDim, shape.heads, shape.tokens)
        var out = [Float](repeating: 0, count: tokens * heads * d)
        var maxima = [Float](repeating: -.infinity, count: tokens * heads), sums = [Float](repeating: 0, count: tokens * heads)
        q.withUnsafeBufferPointer { qb in
            out.withUnsafeMutableBufferPointer { o in
                maxima.withUnsafeMutableBufferPointer { m in
                    sums.withUnsafeMutableBufferPointer { s in
                        let queries = AttentionQueries(qb.baseAddress!, heads: heads, tokens: tokens, tokenStride: heads * d,
                                                       firstContext: shape.firstContext, window: shape.window)
                        let acc = AttentionAccumulator(output: o.baseAddress!, tokenStride: heads * d, maxima: m.baseAddress!, sums: s.baseAddress!)
                        if let level {
                            pg_isa_set_thread_level(Int32(level))
                            defer { pg_isa_set_thread_level(-1) }
                            pagedAttention(queries, kvHead: 1, layer: kv.layer, blockTable: blockTable, blocks: 0..<blockTable.count,
                                           scale: 0.2, into: acc)
                        } else {
                            let start = queries.firstVisible(0) / 16, end = (queries.lastContext + 15) / 16
                            switch kv.layer.precision {
                            case .float32: referenceAttend16(Float32Element.self, queries, 1, kv.layer, blockTable, start..<end, 0.2, acc)
                            case .float16: referenceAttend16(Float16Element.self, queries, 1, kv.layer, blockTable, start..<end, 0.2, acc)
                            case .bfloat16: referenceAttend16(BFloat16Element.self, queries, 1, kv.layer, blockTable, start..<end, 0.2, acc)
                            }
                        }
                    }
                }
            }
        }
        return out + maxima + sums
    }

    @Test(arguments: KVPrecision.allCases, shapes)
    func everyLevelMatchesTheSwiftReference(precision: KVPrecision, shape: Shape) {
        let blockTable: [Int32] = [4, 1, 5, 0, 2, 8, 3, 7, 6]
        var rng = SeededRandom(seed: UInt64(shape.headDim + shape.heads))
        let context = shape.firstContext + shape.tokens - 1
        let kv = RandomKVLayer(headDim: shape.headDim, blockSize: 16, precision: precision, blockTable: blockTable, context: context, rng: &rng)
        defer { withExtendedLifetime(kv) {} }
        let q = (0..<(shape.tokens * shape.heads * shape.headDim)).map { _ in Float.random(in: -3...3, using: &rng) }
        let reference = Self.run(shape, kv, q, blockTable: blockTable, level: nil)
        #expect(reference.allSatisfy { $0.isFinite })
        for level in 0...Int(pg_isa_detected().rawValue) {
            let got = Self.run(shape, kv, q, blockTable: blockTable, level: level)
            if level >= Int(PG_ISA_AVX2.rawValue) {
                #expect(got == reference, "level \(level)")
            } else {
                let worst = zip(got, reference).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst < 2e-5, "level \(level): relative difference \(worst)")
            }
        }
    }
}
