import Foundation
import Synchronization
import CKernels
import GGUF
import Kernels
import TestSupport
import Testing

/// The C micro-kernels on every ISA level this CPU has, against a Swift reference:
/// dequantized weights times the same 8-bit activations, summed in double precision.
@Suite(.serialized) struct QuantizedMatMulTests {
    static func randomWeights(_ type: GGMLType, rows: Int, columns: Int, rng: inout SeededRandom) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<(rows * columns / 32) {
            switch type {
            case .q4_1:
                bytes += le(floatToHalf(Float.random(in: 0.001...0.05, using: &rng)))
                bytes += le(floatToHalf(Float.random(in: -0.4...0, using: &rng)))
                bytes += (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case .q4_0:
                bytes += le(floatToHalf(Float.random(in: -0.05...0.05, using: &rng)))
                bytes += (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case .q5_0, .q5_1:
                bytes += le(floatToHalf(Float.random(in: type == .q5_0 ? -0.05...0.05 : 0.001...0.05, using: &rng)))
                if type == .q5_1 { bytes += le(floatToHalf(Float.random(in: -0.8...0, using: &rng))) }
                bytes += (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }  // qh, then nibbles
            default:
                bytes += le(floatToHalf(Float.random(in: 0.001...0.02, using: &rng)))
                bytes += (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }  // includes -128
            }
        }
        return bytes
    }

    static func le(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    /// `count` random weights in [-1, 1] as F32, F16 or BF16 bytes.
    static func randomFloatWeights(_ type: GGMLType, count: Int, rng: inout SeededRandom) -> [UInt8] {
        (0..<count).flatMap { _ -> [UInt8] in
            let f = Float.random(in: -1...1, using: &rng)
            switch type {
            case .f16: return le(floatToHalf(f))
            case .bf16: return le(UInt16(f.bitPattern >> 16))
            default: return withUnsafeBytes(of: f) { Array($0) }
            }
        }
    }

    /// The float-weight kernels on every level: ragged widths (not a multiple of 8), row tiles
    /// of 4 and single rows, several tokens, against the dequantized weights.
    @Test(arguments: [GGMLType.f32, .f16, .bf16])
    func floatKernelsMatchReference(type: GGMLType) {
        var rng = SeededRandom(seed: 17)
        let rows = 11, k = 45, tokens = 3
        let w = Self.randomFloatWeights(type, count: rows * k, rng: &rng)
        let weights = w.withUnsafeBytes { Dequantize.toFloats(type, $0, count: rows * k) }
        let x = (0..<(tokens * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        for level in Self.levels {
            InstructionSets.with(level) {
                var y = [Float](repeating: .nan, count: tokens * rows)
                #expect(pg_gemm_f(Int32(type.rawValue), w, Int64(k), 0, 5, x, Int64(tokens), &y, Int64(rows)) == 0)
                #expect(pg_gemm_f(Int32(type.rawValue), w, Int64(k), 5, Int64(rows), x, Int64(tokens), &y, Int64(rows)) == 0)
                for t in 0..<tokens {
                    for r in 0..<rows {
                        let e = (0..<k).reduce(0.0) { $0 + Double(weights[r * k + $1]) * Double(x[t * k + $1]) }
                        #expect(abs(Double(y[t * rows + r]) - e) <= 1e-5 * max(1, abs(e)), "ISA \(level.rawValue) \(type)")
                    }
                }
            }
        }
        var y: Float = 0
        #expect(pg_gemm_f(Int32(GGMLType.q8_0.rawValue), w, Int64(k), 0, 1, x, 1, &y, 1) == -1)
    }

    /// `x` in 8-bit blocks, and those blocks read back as floats.
    static func quantized(_ x: [Float]) -> (blocks: [pg_block_q8], values: [Float]) {
        var blocks = [pg_block_q8](repeating: pg_block_q8(), count: x.count / 32)
        pg_quantize_q8(x, &blocks, Int64(x.count))
        var xq = [Float](repeating: 0, count: x.count)
        for (b, block) in blocks.enumerated() {
            withUnsafeBytes(of: block.qs) { qs in
                for j in 0..<32 { xq[b * 32 + j] = Float(Int8(bitPattern: qs[j])) * block.d }
            }
        }
        return (blocks, xq)
    }

    /// Reference: dequantized weights · dequantized 8-bit activations.
    static func reference(_ type: GGMLType, _ w: [UInt8], rows: Int, k: Int, x: [Float], tokens: Int) -> [Float] {
        let weights = w.withUnsafeBytes { Dequantize.toFloats(type, $0, count: rows * k) }
        let (blocks, xq) = Self.quantized(x)
        var y = [Float](repeating: 0, count: tokens * rows)
        for t in 0..<tokens {
            for r in 0..<rows {
                var s = 0.0
                for j in 0..<k { s += Double(weights[r * k + j]) * Double(xq[t * k + j]) }
                if let offset = Self.offset(type) {
                    // The kernel takes the block minimum (Q4_0: -8d, Q5_0: -16d) times the
                    // activations' stored sum `s` (kept at half precision, as GGML does) instead
                    // of summing the values.
                    for b in 0..<(k / 32) {
                        let at = (r * k / 32 + b) * type.blockBytes + (offset == 0 ? 2 : 0)
                        let half = Double(halfToFloat(UInt16(w[at]) | UInt16(w[at + 1]) << 8))
                        let m = offset == 0 ? half : offset * half
                        let block = blocks[t * k / 32 + b]
                        let exactSum = (0..<32).reduce(0.0) { $0 + Double(xq[t * k + b * 32 + $1]) }
                        s += m * (Double(block.s) - exactSum)
                    }
                }
                y[t * rows + r] = Float(s)
            }
        }
        return y
    }

    /// For types whose kernels apply an offset through the activations' sum: 0 when it is stored
    /// (Q4_1, Q5_1), else the multiple of d it is (Q4_0: -8, Q5_0: -16).
    static func offset(_ type: GGMLType) -> Double? {
        switch type {
        case .q4_1, .q5_1: 0
        case .q4_0: -8
        case .q5_0: -16
        default: nil
        }
    }

    static let levels = InstructionSets.available

    @Test(arguments: [GGMLType.q4_1, .q5_0, .q5_1, .q8_0], [(rows: 13, k: 96, tokens: 7), (rows: 64, k: 576, tokens: 1), (rows: 8, k: 32, tokens: 9)])
    func kernelsMatchReference(type: GGMLType, shape: (rows: Int, k: Int, tokens: Int)) throws {
        var rng = SeededRandom(seed: 42)
        let w = Self.randomWeights(type, rows: shape.rows, columns: shape.k, rng: &rng)
        let x = (0..<(shape.tokens * shape.k)).map { _ in Float.random(in: -2...2, using: &rng) }
        let expected = Self.reference(type, w, rows: shape.rows, k: shape.k, x: x, tokens: shape.tokens)
        for level in Self.levels {
            InstructionSets.with(level) {
                var blocks = [pg_block_q8](repeating: pg_block_q8(), count: shape.tokens * shape.k / 32)
                pg_quantize_q8(x, &blocks, Int64(shape.tokens * shape.k))
                var y = [Float](repeating: .nan, count: shape.tokens * shape.rows)
                // Two calls over a split row range, as the thread pool issues them.
                let split = shape.rows / 2
                #expect(pg_gemm_q(Int32(type.rawValue), w, Int64(shape.k), 0, Int64(split), blocks, Int64(shape.tokens), &y, Int64(shape.rows)) == 0)
                #expect(pg_gemm_q(Int32(type.rawValue), w, Int64(shape.k), Int64(split), Int64(shape.rows), blocks, Int64(shape.tokens), &y, Int64(shape.rows)) == 0)
                for (g, e) in zip(y, expected) {
                    #expect(abs(g - e) <= 1e-4 * max(1, abs(e)), "ISA \(level.rawValue): \(g) vs \(e)")
                }
            }
        }
    }

    /// Random Q4_K or Q6_K super-blocks (256 weights): random quants and scales, sane halves.
    static func randomKWeights(_ type: GGMLType, rows: Int, columns: Int, rng: inout SeededRandom) -> [UInt8] {
        var bytes: [UInt8] = []
        func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        for _ in 0..<(rows * columns / 256) {
            if type == .q4_K {
                bytes += le(floatToHalf(Float.random(in: 0.0005...0.004, using: &rng)))  // d
                bytes += le(floatToHalf(Float.random(in: 0.0005...0.004, using: &rng)))  // dmin
                bytes += random(12 + 128)  // 6-bit scales and mins, nibbles
            } else {
                bytes += random(128 + 64)  // low 4 bits, high 2 bits
                bytes += (0..<16).map { _ in UInt8(bitPattern: Int8.random(in: -128...127, using: &rng)) }
                bytes += le(floatToHalf(Float.random(in: 0.0001...0.002, using: &rng)))  // d
            }
        }
        return bytes
    }

    /// The K-quant kernels (GGML layout, 8-bit activations in blocks of 32) on every level:
    /// ragged row counts, split row ranges, one and several tokens, against the dequantized
    /// weights times the dequantized activations. Q4_K's minimums meet the activations' stored
    /// half-precision sums, hence its relative bound.
    /// The second split of 37 rows starts off a multiple of 8. On AVX-512 more than 4 tokens take
    /// Q4_K's rows 16 at a time (gemm_k16.inc) and the rest in tiles, with the tiles' bits.
    @Test(arguments: [GGMLType.q4_K, .q6_K], [(rows: 13, k: 256, tokens: 3), (rows: 5, k: 512, tokens: 1), (rows: 9, k: 768, tokens: 6),
                                              (rows: 37, k: 512, tokens: 11), (rows: 48, k: 768, tokens: 9)])
    func kQuantKernelsMatchReference(type: GGMLType, shape: (rows: Int, k: Int, tokens: Int)) throws {
        var rng = SeededRandom(seed: 44)
        let (rows, k, tokens) = shape
        let w = Self.randomKWeights(type, rows: rows, columns: k, rng: &rng)
        let weights = w.withUnsafeBytes { Dequantize.toFloats(type, $0, count: rows * k) }
        let x = (0..<(tokens * k)).map { _ in Float.random(in: -2...2, using: &rng) }
        let (blocks, xq) = Self.quantized(x)
        var vectorBits: [Float]?
        for level in Self.levels {
            InstructionSets.with(level) {
                var y = [Float](repeating: .nan, count: tokens * rows)
                let split = rows / 2 + 1
                for (r0, r1) in [(0, split), (split, rows)] {
                    #expect(pg_gemm_q(Int32(type.rawValue), w, Int64(k), Int64(r0), Int64(r1), blocks, Int64(tokens), &y, Int64(rows)) == 0)
                }
                // The same bits on both vector levels.
                if level != PG_ISA_SCALAR {
                    if let bits = vectorBits { #expect(y == bits, "ISA \(level.rawValue) \(type) against AVX2") } else { vectorBits = y }
                }
                // A token's row is the same bits computed alone (a decode step of one sequence)
                // as among the others (a batch) and in any split of the rows (Q4_K's former x8
                // form for more than 4 tokens broke this).
                let nb = k / 32
                for t in 0..<tokens {
                    var alone = [Float](repeating: .nan, count: rows)
                    blocks.withUnsafeBufferPointer { b in
                        #expect(pg_gemm_q(Int32(type.rawValue), w, Int64(k), 0, Int64(rows), b.baseAddress! + t * nb, 1, &alone, Int64(rows)) == 0)
                    }
                    #expect(alone == Array(y[(t * rows)..<((t + 1) * rows)]), "ISA \(level.rawValue) \(type) token \(t) alone")
                }
                for t in 0..<tokens {
                    for r in 0..<rows {
                        var e = 0.0, magnitude = 0.0
                        for j in 0..<k {
                            let p = Double(weights[r * k + j]) * Double(xq[t * k + j])
                            e += p
                            magnitude += abs(p)
                        }
                        let bound = (type == .q4_K ? 2e-3 : 1e-5) * magnitude + 1e-6
                        #expect(abs(Double(y[t * rows + r]) - e) <= bound, "ISA \(level.rawValue) \(type) row \(r) token \(t)")
                    }
                }
            }
        }
        // K-quant rows are whole super-blocks.
        var y: Float = 0
        #expect(pg_gemm_q(Int32(type.rawValue), w, 96, 0, 1, blocks, 1, &y, 1) == -1)
    }

    /// The interleaved (x8) kernels: every token-tile width (1…8 and remainders), split row ranges
    /// (AVX-512 takes two groups of 8 rows at once, and a lone group alone), the same bits for a token
    /// whatever tile it is in, and the same bits on the vector levels (the scalar one rounds its own way).
    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1],
          [(rows: 16, k: 96, tokens: 7), (rows: 64, k: 576, tokens: 1), (rows: 24, k: 32, tokens: 10),
           (rows: 40, k: 64, tokens: 9), (rows: 48, k: 96, tokens: 8), (rows: 48, k: 64, tokens: 13),
           (rows: 32, k: 64, tokens: 16), (rows: 40, k: 64, tokens: 17), (rows: 48, k: 96, tokens: 32),
           (rows: 40, k: 64, tokens: 33)])
    func interleavedKernelsMatchReference(type: GGMLType, shape: (rows: Int, k: Int, tokens: Int)) throws {
        var rng = SeededRandom(seed: 43)
        let w = Self.randomWeights(type, rows: shape.rows, columns: shape.k, rng: &rng)
        let x = (0..<(shape.tokens * shape.k)).map { _ in Float.random(in: -2...2, using: &rng) }
        let expected = Self.reference(type, w, rows: shape.rows, k: shape.k, x: x, tokens: shape.tokens)
        let wtype = Int32(type.rawValue)
        let bytes = Int(pg_packed_bytes(wtype, Int64(shape.k), Int64(shape.rows)))
        #expect(bytes == (type == .q4_0 ? w.count / 18 * 20 : w.count))
        var packed = [UInt8](repeating: 0, count: bytes)
        #expect(pg_repack_x8(wtype, w, Int64(shape.k), Int64(shape.rows), &packed) == 0)
        var firstLevel: (pg_isa, [Float])?
        for level in Self.levels {
            InstructionSets.with(level) {
                var blocks = [pg_block_q8](repeating: pg_block_q8(), count: shape.tokens * shape.k / 32)
                pg_quantize_q8(x, &blocks, Int64(shape.tokens * shape.k))
                var y = [Float](repeating: .nan, count: shape.tokens * shape.rows)
                let split = shape.rows / 16 * 8
                for (r0, r1) in [(0, split), (split, shape.rows)] {
                    #expect(pg_gemm_q_x8(wtype, packed, Int64(shape.k), Int64(r0), Int64(r1), blocks, Int64(shape.tokens), &y, Int64(shape.rows)) == 0)
                }
                for (g, e) in zip(y, expected) {
                    #expect(abs(g - e) <= 1e-4 * max(1, abs(e)), "ISA \(level.rawValue): \(g) vs \(e)")
                }
                if level != PG_ISA_SCALAR, let (first, bits) = firstLevel {
                    #expect(y == bits, "ISA \(level.rawValue) against \(first.rawValue)")
                } else if level != PG_ISA_SCALAR {
                    firstLevel = (level, y)
                }
                // A token's row is the same bits in any tile: computed alone it equals its row above.
                let nb = shape.k / 32
                for t in 0..<shape.tokens {
                    var alone = [Float](repeating: .nan, count: shape.rows)
                    blocks.withUnsafeBufferPointer { b in
                        #expect(pg_gemm_q_x8(wtype, packed, Int64(shape.k), 0, Int64(shape.rows), b.baseAddress! + t * nb, 1, &alone, Int64(shape.rows)) == 0)
                    }
                    #expect(alone == Array(y[(t * shape.rows)..<((t + 1) * shape.rows)]), "ISA \(level.rawValue) token \(t) alone")
                }
            }
        }
        // Ranges off the groups of 8, and types without x8 kernels, are refused.
        var y = [Float](repeating: 0, count: shape.tokens * shape.rows)
        let blocks = [pg_block_q8](repeating: pg_block_q8(), count: shape.tokens * shape.k / 32)
        #expect(pg_gemm_q_x8(wtype, packed, Int64(shape.k), 4, 8, blocks, 1, &y, Int64(shape.rows)) == -1)
        #expect(pg_packed_bytes(Int32(GGMLType.q8_1.rawValue), Int64(shape.k), 8) == -1)
    }

    /// 5-bit weights at their largest (every quant 31) against activations at theirs (±127): the
    /// largest partial sums the kernels form, on both layouts and every level. (Four-bit sums
    /// widen late on AVX2; five-bit ones must widen twice as often.)
    @Test(arguments: [GGMLType.q5_0, .q5_1])
    func fiveBitKernelsDoNotSaturate(type: GGMLType) {
        var rng = SeededRandom(seed: 45)
        let rows = 19, k = 128, tokens = 5
        var w = Self.randomWeights(type, rows: rows, columns: k, rng: &rng)
        for b in 0..<(rows * k / 32) {
            for i in (type.blockBytes - 20)..<type.blockBytes { w[b * type.blockBytes + i] = 0xFF }
        }
        let x = (0..<(tokens * k)).map { i in (i / 32) % 2 == 0 ? Float(1.5) : -1.5 }
        let expected = Self.reference(type, w, rows: rows, k: k, x: x, tokens: tokens)
        let (blocks, _) = Self.quantized(x)
        #expect(blocks.allSatisfy { b in withUnsafeBytes(of: b.qs) { $0.allSatisfy { $0 == 127 || $0 == 129 } } })
        let wtype = Int32(type.rawValue), rows8 = rows / 8 * 8
        var packed = [UInt8](repeating: 0, count: Int(pg_packed_bytes(wtype, Int64(k), Int64(rows8))))
        #expect(pg_repack_x8(wtype, w, Int64(k), Int64(rows8), &packed) == 0)
        for level in Self.levels {
            InstructionSets.with(level) {
                var rowPath = [Float](repeating: .nan, count: tokens * rows), interleaved = rowPath
                #expect(pg_gemm_q(wtype, w, Int64(k), 0, Int64(rows), blocks, Int64(tokens), &rowPath, Int64(rows)) == 0)
                #expect(pg_gemm_q_x8(wtype, packed, Int64(k), 0, Int64(rows8), blocks, Int64(tokens), &interleaved, Int64(rows)) == 0)
                #expect(pg_gemm_q(wtype, w, Int64(k), Int64(rows8), Int64(rows), blocks, Int64(tokens), &interleaved, Int64(rows)) == 0)
                for i in expected.indices {
                    #expect(abs(rowPath[i] - expected[i]) <= 1e-4 * max(1, abs(expected[i])), "ISA \(level.rawValue) rows")
                    #expect(abs(interleaved[i] - expected[i]) <= 1e-4 * max(1, abs(expected[i])), "ISA \(level.rawValue) x8")
                }
            }
        }
    }

    /// Activation quantization gives identical blocks on every level (an all-zero block, ties
    /// at .5 steps and a wide range of magnitudes included).
    @Test func quantizationIsTheSameOnEveryLevel() {
        var rng = SeededRandom(seed: 5)
        var x = (0..<(32 * 64)).map { i in Float.random(in: -1...1, using: &rng) * Float(1 << (i / 32 % 12)) / 64 }
        for j in 0..<32 { x[j] = 0 }
        for j in 32..<64 { x[j] = Float(j - 48) * 0.5 }  // amax 8: steps of 1/15.875, with exact halves nearby
        let reference = InstructionSets.with(PG_ISA_SCALAR) { () -> [pg_block_q8] in
            var blocks = [pg_block_q8](repeating: pg_block_q8(), count: x.count / 32)
            pg_quantize_q8(x, &blocks, Int64(x.count))
            return blocks
        }
        for level in Self.levels {
            let blocks = InstructionSets.with(level) { () -> [pg_block_q8] in
                var blocks = [pg_block_q8](repeating: pg_block_q8(), count: x.count / 32)
                pg_quantize_q8(x, &blocks, Int64(x.count))
                return blocks
            }
            for (a, b) in zip(blocks, reference) {
                #expect(a.d == b.d && a.s == b.s)
                #expect(withUnsafeBytes(of: a.qs) { Array($0) } == withUnsafeBytes(of: b.qs) { Array($0) }, "ISA \(level.rawValue)")
            }
        }
    }

    /// RMSNorm fused with the quantization (and the residual add before it) gives the blocks of
    /// RMSNorm's floats quantized, bit for bit, on every level.
    @Test func fusedNormQuantizationEqualsTheTwoSteps() {
        var rng = SeededRandom(seed: 6)
        let n = 576
        let x = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
        let delta = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let weight = (0..<n).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        func bytes(_ b: [pg_block_q8]) -> [UInt8] { b.flatMap { block in withUnsafeBytes(of: block) { Array($0) } } }
        for level in Self.levels {
            InstructionSets.with(level) {
                var normed = [Float](repeating: 0, count: n)
                var twoSteps = [pg_block_q8](repeating: pg_block_q8(), count: n / 32), fused = twoSteps
                rmsNorm(x, weight: weight, eps: 1e-5, into: &normed, n)
                pg_quantize_q8(normed, &twoSteps, Int64(n))
                rmsNormQuantized(x, weight: weight, eps: 1e-5, into: &fused, n)
                #expect(bytes(fused) == bytes(twoSteps), "ISA \(level.rawValue)")

                var r1 = x, r2 = x
                addRMSNorm(delta, into: &r1, weight: weight, eps: 1e-5, out: &normed, n)
                pg_quantize_q8(normed, &twoSteps, Int64(n))
                addRMSNormQuantized(delta, into: &r2, weight: weight, eps: 1e-5, into: &fused, n)
                #expect(r1 == r2)
                #expect(bytes(fused) == bytes(twoSteps), "ISA \(level.rawValue), with the residual add")
            }
        }
    }

    /// A thread's level holds for the pool loops it issues and nowhere else.
    @Test func threadLevelReachesThePoolOnly() throws {
        // The process's level: the detected one, or PEREGRINE_ISA's cap below it.
        let processLevel = Int32(pg_isa_active().rawValue)
        try #require(pg_isa_active() != PG_ISA_SCALAR, "needs a level above scalar")
        let pool = ThreadPool(threadCount: 2)
        InstructionSets.with(PG_ISA_SCALAR) {
            let seen = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
            defer { seen.deallocate() }
            pool.parallelFor(64) { i in seen[i] = Int32(pg_isa_active().rawValue) }
            #expect((0..<64).allSatisfy { seen[$0] == PG_ISA_SCALAR.rawValue })
            let other = Mutex<Int32>(-1), done = DispatchSemaphore(value: 0)
            Thread {
                other.withLock { $0 = Int32(pg_isa_active().rawValue) }
                done.signal()
            }.start()
            done.wait()
            #expect(other.withLock { $0 } == processLevel)
        }
        // Back at the process's level, the workers follow.
        let seen = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer { seen.deallocate() }
        pool.parallelFor(64) { i in seen[i] = Int32(pg_isa_active().rawValue) }
        #expect((0..<64).allSatisfy { seen[$0] == processLevel })
    }

    @Test func unsupportedTypeIsRejected() {
        var y = [Float](repeating: 0, count: 1)
        let blocks = [pg_block_q8](repeating: pg_block_q8(), count: 1)
        #expect(pg_gemm_q(2, [UInt8](repeating: 0, count: 18), 32, 0, 1, blocks, 1, &y, 1) == -1)
    }

    /// `matmul` through the pool, for quantized and dequantized weight types, with and without
    /// the interleaved copy (37 rows: 32 interleaved, 5 in GGML layout).
    @Test(arguments: [(GGMLType.q4_1, true), (.q4_1, false), (.q8_0, true), (.q8_0, false), (.q4_0, true), (.q4_0, false),
                      (.q5_0, true), (.q5_0, false), (.q5_1, true), (.q5_1, false), (.f32, true), (.f16, true), (.bf16, true), (.q4_K, true), (.q6_K, true)])
    func matmulThroughPool(type: GGMLType, repack: Bool) {
        var rng = SeededRandom(seed: 7)
        let rows = 37, k = type.blockSize == 256 ? 256 : 64, tokens = 5
        let w: [UInt8] = [.f32, .f16, .bf16].contains(type) ? Self.randomFloatWeights(type, count: rows * k, rng: &rng)
            : type.blockSize == 256 ? Self.randomKWeights(type, rows: rows, columns: k, rng: &rng)
            : Self.randomWeights(type, rows: rows, columns: k, rng: &rng)
        let x = (0..<(tokens * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let weights = w.withUnsafeBytes { Dequantize.toFloats(type, $0, count: rows * k) }
        let pool = ThreadPool(threadCount: 2)
        var y = [Float](repeating: .nan, count: tokens * rows)
        w.withUnsafeBytes { wb in
            let m = WeightMatrix(type: type, rows: rows, columns: k, data: wb.baseAddress!, repack: repack)
            matmul(m, x, tokens: tokens, into: &y, scratch: MatMulScratch(), pool: pool)
        }
        for t in 0..<tokens {
            for r in 0..<rows {
                var s: Float = 0, absW: Float = 0, maxX: Float = 0
                for j in 0..<k {
                    s += weights[r * k + j] * x[t * k + j]
                    absW += abs(weights[r * k + j])
                    maxX = max(maxX, abs(x[t * k + j]))
                }
                // 8-bit activations: each is off by at most half a step, max|x| / 254.
                let bound: Float = [.f32, .f16, .bf16].contains(type) ? 1e-4 : absW * maxX / 254 * 1.01 + 1e-4
                #expect(abs(y[t * rows + r] - s) <= bound)
            }
        }
    }

    /// Several matrices over the same input in one region give what one `matmul` each gives,
    /// bit for bit (mixed types; with a 37-row matrix it falls back to one call each).
    @Test(arguments: [[16, 8, 24], [16, 37]])
    func stackedMatMulEqualsSeparateOnes(rows: [Int]) {
        var rng = SeededRandom(seed: 11)
        let k = 96, tokens = 6
        let types = rows.indices.map { $0 % 2 == 0 ? GGMLType.q4_1 : .q8_0 }
        let bytes = zip(types, rows).map { Self.randomWeights($0, rows: $1, columns: k, rng: &rng) }
        let x = (0..<(tokens * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let pool = ThreadPool(threadCount: 2)
        var base: [UnsafeMutableRawPointer] = []
        defer { base.forEach { $0.deallocate() } }
        let matrices = zip(types, zip(rows, bytes)).map { type, rb in
            let p = UnsafeMutableRawPointer.allocate(byteCount: rb.1.count, alignment: 64)
            p.copyMemory(from: rb.1, byteCount: rb.1.count)
            base.append(p)
            return WeightMatrix(type: type, rows: rb.0, columns: k, data: p)
        }
        let outputs = rows.map { UnsafeMutablePointer<Float>.allocate(capacity: tokens * $0) }
        defer { outputs.forEach { $0.deallocate() } }
        matmul(matrices, x, tokens: tokens, into: outputs, scratch: MatMulScratch(), pool: pool)
        for (i, w) in matrices.enumerated() {
            var alone = [Float](repeating: .nan, count: tokens * w.rows)
            matmul(w, x, tokens: tokens, into: &alone, scratch: MatMulScratch(), pool: pool)
            #expect(Array(UnsafeBufferPointer(start: outputs[i], count: tokens * w.rows)) == alone)
        }
    }
}
