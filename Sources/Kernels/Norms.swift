/// RMSNorm: out = x / sqrt(mean(x²) + eps) * weight.
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                    into out: UnsafeMutablePointer<Float>, _ n: Int) {
    // The sum of squares in double precision, as GGML computes it.
    var sum = 0.0
    for i in 0..<n { sum += Double(x[i] * x[i]) }
    scaleByRMS(x, sum: sum, weight: weight, eps: eps, out: out, n)
}

/// out = x / sqrt(sum / n + eps) · weight.
@inline(__always)
func scaleByRMS(_ x: UnsafePointer<Float>, sum: Double, weight: UnsafePointer<Float>, eps: Float,
                out: UnsafeMutablePointer<Float>, _ n: Int) {
    let inv = 1 / (Float(sum / Double(n)) + eps).squareRoot()
    var i = 0
    let vInv = Vec16(repeating: inv)
    while i + 16 <= n {
        store16(load16(x + i) * vInv * load16(weight + i), out + i)
        i += 16
    }
    while i < n { out[i] = x[i] * inv * weight[i]; i += 1 }
}

/// The residual add fused with the next RMSNorm (one pass over `residual` fewer):
/// residual += x, then out = rmsNorm(residual) · weight. The same arithmetic as `add` then
/// `rmsNorm`, so the same bits.
@inline(__always)
public func addRMSNorm(_ x: UnsafePointer<Float>, into residual: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
                       eps: Float, out: UnsafeMutablePointer<Float>, _ n: Int) {
    var sum = 0.0
    var i = 0
    while i + 16 <= n {
        let r = load16(residual + i) + load16(x + i)
        store16(r, residual + i)
        for j in 0..<16 { sum += Double(r[j] * r[j]) }
        i += 16
    }
    while i < n {
        residual[i] += x[i]
        sum += Double(residual[i] * residual[i])
        i += 1
    }
    scaleByRMS(residual, sum: sum, weight: weight, eps: eps, out: out, n)
}
