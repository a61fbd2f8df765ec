import CKernels

/// RMSNorm: out = x / sqrt(mean(x²) + eps) * weight.
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                    into out: UnsafeMutablePointer<Float>, _ n: Int) {
    // The sum of squares in double precision, as GGML computes it.
    scaleByRMS(x, sum: sumOfSquares(x, n), weight: weight, eps: eps, out: out, n)
}

/// RMSNorm fused with the 8-bit quantization of its output (n a multiple of 32): the normalized
/// floats are never written, and the blocks are those `rmsNorm` then `pg_quantize_q8` give.
@inline(__always)
public func rmsNormQuantized(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                             into y: UnsafeMutablePointer<pg_block_q8>, _ n: Int) {
    pg_quantize_q8_scaled(x, weight, inverseRMS(sumOfSquares(x, n), n, eps), y, Int64(n))
}

/// `addRMSNorm` fused with the quantization of its output.
@inline(__always)
public func addRMSNormQuantized(_ x: UnsafePointer<Float>, into residual: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
                                eps: Float, into y: UnsafeMutablePointer<pg_block_q8>, _ n: Int) {
    let sum = addSumOfSquares(x, into: residual, n)
    pg_quantize_q8_scaled(residual, weight, inverseRMS(sum, n, eps), y, Int64(n))
}

/// Σ x², in double precision, as GGML computes it.
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var sum = 0.0
    for i in 0..<n { sum += Double(x[i] * x[i]) }
    return sum
}

@inline(__always)
func inverseRMS(_ sum: Double, _ n: Int, _ eps: Float) -> Float {
    1 / (Float(sum / Double(n)) + eps).squareRoot()
}

/// out = x / sqrt(sum / n + eps) · weight.
@inline(__always)
func scaleByRMS(_ x: UnsafePointer<Float>, sum: Double, weight: UnsafePointer<Float>, eps: Float,
                out: UnsafeMutablePointer<Float>, _ n: Int) {
    let inv = inverseRMS(sum, n, eps)
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
    let sum = addSumOfSquares(x, into: residual, n)
    scaleByRMS(residual, sum: sum, weight: weight, eps: eps, out: out, n)
}

/// residual += x; returns Σ residual².
@inline(__always)
func addSumOfSquares(_ x: UnsafePointer<Float>, into residual: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
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
    return sum
}
