/// IEEE half and bfloat16 conversions used by the dequantizers.
@inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Rounds to the nearest half (ties to even), as `ggml_fp32_to_fp16` does.
@inline(__always)
public func floatToHalf(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

@inline(__always)
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Rounds to the nearest bfloat16 (ties to even); NaN stays NaN.
@inline(__always)
public func floatToBFloat16(_ value: Float) -> UInt16 {
    let u = value.bitPattern
    if value.isNaN { return UInt16(u >> 16) | 0x40 }
    return UInt16((u &+ (0x7FFF &+ ((u >> 16) & 1))) >> 16)
}
