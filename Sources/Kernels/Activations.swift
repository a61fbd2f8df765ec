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
