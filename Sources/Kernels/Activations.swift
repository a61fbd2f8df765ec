import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SwiGLU gate: gate[i] = silu(gate[i]) * up[i], sixteen lanes at a time (with one token it
/// runs on the calling thread between parallel regions, so scalar `expf` kept the workers idle).
@inline(__always)
public func siluMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    pg_silu_mul(gate, up, Int64(n))
}

/// GeGLU gate: gate[i] = gelu(gate[i]) * up[i], with GELU's tanh approximation
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) written as x / (1 + e^(−2u)).
@inline(__always)
public func geluTanhMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    pg_gelu_tanh_mul(gate, up, Int64(n))
}

/// x[i] = cap · tanh(x[i] / cap) (Gemma's final logit soft-capping).
public func softcap(_ x: UnsafeMutablePointer<Float>, cap: Float, _ n: Int) {
    for i in 0..<n { x[i] = cap * tanhf(x[i] / cap) }
}
