import CKernels
import TestSupport
import Testing
@testable import Kernels

#if canImport(Glibc)
import Glibc
#endif

/// The C elementwise kernels (exponentials, SwiGLU and GeGLU gates, dot, axpy) at every
/// instruction-set level this CPU has, against the Swift loops they replaced (below): the same
/// bits at the FMA levels, within float rounding at the baseline level.
struct VectorMathLevelTests {
    static func referenceExponentials(_ x: [Float], shift: Float, scale: Float) -> (sum: Float, values: [Float]) {
        var out = [Float](repeating: 0, count: x.count)
        var acc = Vec16()
        var i = 0
        x.withUnsafeBufferPointer { p in
            while i + 16 <= x.count {
                let e = exp16((load16(p.baseAddress! + i) - Vec16(repeating: shift)) * Vec16(repeating: scale))
                for j in 0..<16 { out[i + j] = e[j] }
                acc += e
                i += 16
            }
        }
        var total = horizontalSum(acc)
        while i < x.count {
            out[i] = exp16(Vec16(repeating: (x[i] - shift) * scale))[0]
            total += out[i]
            i += 1
        }
        return (total, out)
    }

    static func referenceGate(_ gate: [Float], _ up: [Float], gelu: Bool) -> [Float] {
        let c: Float = 0.7978845608028654, a: Float = 0.044715
        var out = gate
        var i = 0
        while i + 16 <= gate.count {
            var x = Vec16(), u = Vec16()
            for j in 0..<16 { x[j] = gate[i + j]; u[j] = up[i + j] }
            let one = Vec16(repeating: 1)
            let r = gelu ? x / (one + exp16(Vec16(repeating: -2 * c) * (x * (one + Vec16(repeating: a) * x * x)))) * u
                : x / (one + exp16(-x)) * u
            for j in 0..<16 { out[i + j] = r[j] }
            i += 16
        }
        while i < gate.count {
            let x = gate[i]
            out[i] = gelu ? x / (1 + expf(-2 * c * x * (1 + a * x * x))) * up[i] : x / (1 + expf(-x)) * up[i]
            i += 1
        }
        return out
    }

    static func referenceDot(_ a: [Float], _ b: [Float]) -> Float {
        var acc0 = Vec16(), acc1 = Vec16()
        var i = 0
        let n = a.count
        func v(_ x: [Float], _ at: Int) -> Vec16 { var r = Vec16(); for j in 0..<16 { r[j] = x[at + j] }; return r }
        while i + 32 <= n {
            acc0 = acc0.addingProduct(v(a, i), v(b, i))
            acc1 = acc1.addingProduct(v(a, i + 16), v(b, i + 16))
            i += 32
        }
        if i + 16 <= n {
            acc0 = acc0.addingProduct(v(a, i), v(b, i))
            i += 16
        }
        var s = horizontalSum(acc0 + acc1)
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Runs `body` with this thread's kernels at every level the CPU has.
    static func atEveryLevel(_ body: (_ level: Int, _ fused: Bool) -> Void) {
        for level in 0...Int(pg_isa_detected().rawValue) {
            pg_isa_set_thread_level(Int32(level))
            body(level, level >= Int(PG_ISA_AVX2.rawValue))
            pg_isa_set_thread_level(-1)
        }
    }

    static func close(_ a: [Float], _ b: [Float]) -> Bool {
        zip(a, b).allSatisfy { abs($0 - $1) <= 2e-6 * max(1, abs($1)) }
    }

    @Test(arguments: [1, 16, 37, 256, 1000])
    func everyLevelMatchesTheSwiftLoops(n: Int) {
        var rng = SeededRandom(seed: UInt64(n))
        let x = (0..<n).map { _ in Float.random(in: -12...6, using: &rng) }
        let y = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
        let (sum, values) = Self.referenceExponentials(x, shift: 1.5, scale: 0.8)
        let silu = Self.referenceGate(x, y, gelu: false), gelu = Self.referenceGate(x, y, gelu: true)
        let dotValue = Self.referenceDot(x, y)
        var axpyValue = y
        var i = 0
        while i + 16 <= n {
            for j in 0..<16 { axpyValue[i + j] = y[i + j].addingProduct(0.7, x[i + j]) }
            i += 16
        }
        while i < n { axpyValue[i] += 0.7 * x[i]; i += 1 }
        Self.atEveryLevel { level, fused in
            var out = [Float](repeating: .nan, count: n)
            let s = pg_exponentials(x, Int64(n), 1.5, 0.8, &out)
            let s2 = pg_exponentials(x, Int64(n), 1.5, 0.8, nil)
            var g = x, h = x, ax = y
            pg_silu_mul(&g, y, Int64(n))
            pg_gelu_tanh_mul(&h, y, Int64(n))
            pg_axpy(0.7, x, &ax, Int64(n))
            let d = pg_dot(x, y, Int64(n))
            if fused {
                #expect(s == sum && s2 == sum && out == values, "level \(level)")
                #expect(g == silu && h == gelu && d == dotValue && ax == axpyValue, "level \(level)")
            } else {
                #expect(Self.close([s, s2], [sum, sum]) && Self.close(out, values), "level \(level)")
                #expect(Self.close(g, silu) && Self.close(h, gelu) && Self.close(ax, axpyValue), "level \(level)")
                #expect(abs(d - dotValue) <= 1e-5 * x.indices.reduce(0) { $0 + abs(x[$1] * y[$1]) } + 1e-6, "level \(level)")
            }
        }
    }
}
