#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SwiGLU gate: gate[i] = silu(gate[i]) * up[i].
@inline(__always)
public func siluMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}
