import CKernels

/// Softmax building blocks over a row of logits, sixteen lanes at a time (a 262k-token vocabulary
/// makes scalar `expf` passes cost milliseconds).

/// The largest of `x[0..<n]` (NaNs are ignored).
public func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m16 = Vec16(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
        let v = load16(x + i)
        m16.replace(with: v, where: v .> m16)  // a blend; pointwiseMax stays scalar code
        i += 16
    }
    var m = m16.max()
    while i < n {
        if x[i] > m { m = x[i] }
        i += 1
    }
    return m
}

/// Σ exp((x[i] − shift) · scale) over `x[0..<n]`.
public func sumOfExponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float = 1) -> Float {
    pg_exponentials(x, Int64(n), shift, scale, nil)
}

/// out[i] = exp((x[i] − shift) · scale) for `x[0..<n]`; returns their sum.
@discardableResult
public func exponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float = 1, into out: UnsafeMutablePointer<Float>) -> Float {
    pg_exponentials(x, Int64(n), shift, scale, out)
}
