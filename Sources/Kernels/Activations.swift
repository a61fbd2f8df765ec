#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SwiGLU gate: gate[i] = silu(gate[i]) * up[i], sixteen lanes at a time (with one token it
/// runs on the calling thread between parallel regions, so scalar `expf` kept the workers idle).
@inline(__always)
public func siluMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    let one = Vec16(repeating: 1)
    var i = 0
    while i + 16 <= n {
        let g = load16(gate + i)
        store16(g / (one + exp16(-g)) * load16(up + i), gate + i)
        i += 16
    }
    while i < n {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
        i += 1
    }
}

/// GeGLU gate: gate[i] = gelu(gate[i]) * up[i], with GELU's tanh approximation
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) written as x / (1 + e^(−2u)).
@inline(__always)
public func geluTanhMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    let c: Float = 0.7978845608028654, a: Float = 0.044715
    let one = Vec16(repeating: 1), minusTwoC = Vec16(repeating: -2 * c), av = Vec16(repeating: a)
    var i = 0
    while i + 16 <= n {
        let x = load16(gate + i)
        let u = x * (one + av * x * x)
        store16(x / (one + exp16(minusTwoC * u)) * load16(up + i), gate + i)
        i += 16
    }
    while i < n {
        let x = gate[i]
        gate[i] = x / (1 + expf(-2 * c * x * (1 + a * x * x))) * up[i]
        i += 1
    }
}

/// x[i] = cap · tanh(x[i] / cap) (Gemma's final logit soft-capping).
public func softcap(_ x: UnsafeMutablePointer<Float>, cap: Float, _ n: Int) {
    for i in 0..<n { x[i] = cap * tanhf(x[i] / cap) }
}
