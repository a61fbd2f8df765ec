/// RMSNorm: out = x / sqrt(mean(x²) + eps) * weight.
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                    into out: UnsafeMutablePointer<Float>, _ n: Int) {
    // The sum of squares in double precision, as GGML computes it.
    var sum = 0.0
    for i in 0..<n { sum += Double(x[i] * x[i]) }
    let inv = 1 / (Float(sum / Double(n)) + eps).squareRoot()
    var i = 0
    let vInv = Vec16(repeating: inv)
    while i + 16 <= n {
        store16(load16(x + i) * vInv * load16(weight + i), out + i)
        i += 16
    }
    while i < n { out[i] = x[i] * inv * weight[i]; i += 1 }
}
