/// RMSNorm: out = x / sqrt(mean(x²) + eps) * weight.
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                    into out: UnsafeMutablePointer<Float>, _ n: Int) {
    let ms = dot(x, x, n) / Float(n)
    let inv = 1 / (ms + eps).squareRoot()
    var i = 0
    let vInv = Vec16(repeating: inv)
    while i + 16 <= n {
        store16(load16(x + i) * vInv * load16(weight + i), out + i)
        i += 16
    }
    while i < n { out[i] = x[i] * inv * weight[i]; i += 1 }
}
