import CKernels
/// Written-out SIMD loops over raw pointers (the stdlib conveniences are far slower).
public typealias Vec16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> Vec16 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec16.self)
}

@inline(__always) func store16(_ v: Vec16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec16.self)
}

@inline(__always) func horizontalSum(_ v: Vec16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Dot product of two float vectors of length n.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    pg_dot(a, b, Int64(n))
}

/// y += alpha * x over n elements.
@inline(__always)
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    pg_axpy(alpha, x, y, Int64(n))
}

/// x *= alpha over n elements.
@inline(__always)
public func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, _ n: Int) {
    var i = 0
    let va = Vec16(repeating: alpha)
    while i + 16 <= n { store16(load16(x + i) * va, x + i); i += 16 }
    while i < n { x[i] *= alpha; i += 1 }
}

/// y += x over n elements.
@inline(__always)
public func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
    while i < n { y[i] += x[i]; i += 1 }
}

/// e^x for 16 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n by
/// building the exponent bits (relative error about 2e-7; inputs below −87 give 0). Rounding to
/// an integer uses the 1.5·2²³ trick, as the stdlib's SIMD conversions are slow.
@inline(__always)
public func exp16(_ x: Vec16) -> Vec16 {
    let magic = Vec16(repeating: 12_582_912)  // 1.5 · 2^23
    // Masks and blends (vcmpps, vblendvps): pointwiseMin/Max and per-lane min/max loops stay
    // scalar code with branches.
    var clamped = x.replacing(with: -87.3, where: x .< -87.3)
    clamped.replace(with: 88.7, where: clamped .> 88.7)
    let shifted = clamped * Vec16(repeating: 1.442_695_04) + magic
    let n = shifted - magic
    let r = clamped.addingProduct(n, Vec16(repeating: -0.693_145_75)).addingProduct(n, Vec16(repeating: -1.428_606_8e-6))
    var p = Vec16(repeating: 1.0 / 720)
    p = p * r + Vec16(repeating: 1.0 / 120)
    p = p * r + Vec16(repeating: 1.0 / 24)
    p = p * r + Vec16(repeating: 1.0 / 6)
    p = p * r + Vec16(repeating: 0.5)
    p = p * r + Vec16(repeating: 1)
    p = p * r + Vec16(repeating: 1)
    // The low bits of `shifted` hold n; move n + 127 into the exponent field.
    let integer = unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000
    let twoToN = unsafeBitCast((integer &+ 127) &<< 23, to: Vec16.self)
    return (p * twoToN).replacing(with: 0, where: x .< -87.3)
}
