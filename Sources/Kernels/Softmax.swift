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
    let s = Vec16(repeating: shift), k = Vec16(repeating: scale)
    var acc = Vec16()
    var i = 0
    while i + 16 <= n {
        acc += exp16((load16(x + i) - s) * k)
        i += 16
    }
    var total = horizontalSum(acc)
    while i < n {
        total += exp16(Vec16(repeating: (x[i] - shift) * scale))[0]
        i += 1
    }
    return total
}

/// out[i] = exp((x[i] − shift) · scale) for `x[0..<n]`; returns their sum.
@discardableResult
public func exponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float = 1, into out: UnsafeMutablePointer<Float>) -> Float {
    let s = Vec16(repeating: shift), k = Vec16(repeating: scale)
    var acc = Vec16()
    var i = 0
    while i + 16 <= n {
        let e = exp16((load16(x + i) - s) * k)
        store16(e, out + i)
        acc += e
        i += 16
    }
    var total = horizontalSum(acc)
    while i < n {
        out[i] = exp16(Vec16(repeating: (x[i] - shift) * scale))[0]
        total += out[i]
        i += 1
    }
    return total
}
