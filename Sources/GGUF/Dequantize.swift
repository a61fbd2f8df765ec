/// Reference dequantizers: the exact block layouts of GGML's types, written for clarity.
/// The fast paths live in `Kernels`; these are what they are tested against.
public enum Dequantize {
    /// Converts `count` elements of type `type` at `src` to `Float` in `dst`.
    /// `count` must be a whole number of blocks.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % type.blockSize == 0, "count must be a whole number of blocks")
        let blocks = count / type.blockSize
        for b in 0..<blocks {
            let block = src + b * type.blockBytes
            let out = dst + b * type.blockSize
            switch type {
            case .f32: out.pointee = Float(bitPattern: block.loadUnaligned(as: UInt32.self))
            case .f16: out.pointee = halfToFloat(block.loadUnaligned(as: UInt16.self))
            case .bf16: out.pointee = bfloat16ToFloat(block.loadUnaligned(as: UInt16.self))
            case .q4_0: q4_0(block, out)
            case .q4_1: q4_1(block, out)
            case .q5_0: q5_0(block, out)
            case .q5_1: q5_1(block, out)
            case .q8_0: q8_0(block, out)
            case .q8_1: q8_1(block, out)
            case .q2_K: q2_K(block, out)
            case .q3_K: q3_K(block, out)
            case .q4_K: q4_K(block, out)
            case .q5_K: q5_K(block, out)
            case .q6_K: q6_K(block, out)
            case .q8_K: q8_K(block, out)
            }
        }
    }

    /// Dequantizes a whole buffer into a new array.
    public static func toFloats(_ type: GGMLType, _ src: UnsafeRawBufferPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            row(type, src.baseAddress!, buffer.baseAddress!, count: count)
            initialized = count
        }
    }

    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    // block_q4_0: half d; uint8 qs[16]
    private static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<16 {
            let q = byte(b, 2 + j)
            y[j] = Float(Int(q & 0xF) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    // block_q4_1: half d, m; uint8 qs[16]
    private static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        for j in 0..<16 {
            let q = byte(b, 4 + j)
            y[j] = Float(q & 0xF) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    // block_q5_0: half d; uint8 qh[4]; uint8 qs[16]
    private static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        let qh = b.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = UInt32(byte(b, 6 + j))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int32((q & 0xF) | h0) - 16) * d
            y[j + 16] = Float(Int32((q >> 4) | h1) - 16) * d
        }
    }

    // block_q5_1: half d, m; uint8 qh[4]; uint8 qs[16]
    private static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        let qh = b.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = UInt32(byte(b, 8 + j))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float((q & 0xF) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    // block_q8_0: half d; int8 qs[32]
    private static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    // block_q8_1: half d, s; int8 qs[32]
    private static func q8_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) * d }
    }

    // block_q2_K: uint8 scales[16]; uint8 qs[64]; half d, dmin
    private static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 80), dmin = half(b, 82)
        var out = 0, scale = 0
        for n in stride(from: 0, to: 256, by: 128) {
            let q = 16 + n / 4
            for shift in stride(from: 0, to: 8, by: 2) {
                for half in 0..<2 {
                    let sc = byte(b, scale); scale += 1
                    let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        y[out] = dl * Float((byte(b, q + l + 16 * half) >> UInt8(shift)) & 3) - ml
                        out += 1
                    }
                }
            }
        }
    }

    // block_q3_K: uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d
    private static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 108)
        let scales = unpackQ3KScales(b + 96)
        var out = 0, scale = 0
        var mask: UInt8 = 1
        for n in stride(from: 0, to: 256, by: 128) {
            let q = 32 + n / 4
            for shift in stride(from: 0, to: 8, by: 2) {
                for half in 0..<2 {
                    let dl = d * Float(scales[scale] - 32); scale += 1
                    for l in 0..<16 {
                        let i = l + 16 * half
                        let low = Int((byte(b, q + i) >> UInt8(shift)) & 3)
                        let high = byte(b, i) & mask != 0 ? 0 : 4
                        y[out] = dl * Float(low - high)
                        out += 1
                    }
                }
                mask <<= 1
            }
        }
    }

    /// The sixteen 6-bit signed scales of a Q3_K block, unpacked from 12 bytes.
    static func unpackQ3KScales(_ p: UnsafeRawPointer) -> [Int] {
        let a0 = p.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian
        let a1 = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        let tmp = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        let k1: UInt32 = 0x0303_0303, k2: UInt32 = 0x0F0F_0F0F
        let words = [
            (a0 & k2) | (((tmp >> 0) & k1) << 4),
            (a1 & k2) | (((tmp >> 2) & k1) << 4),
            ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4),
            ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4),
        ]
        var out: [Int] = []
        for w in words { for k in 0..<4 { out.append(Int(Int8(bitPattern: UInt8((w >> UInt32(8 * k)) & 0xFF)))) } }
        return out
    }

    /// Scale and min of sub-block `j` from the 12 packed bytes of a Q4_K/Q5_K block.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
        func at(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(at(j) & 63), Float(at(j + 4) & 63)) }
        let sc = (at(j + 4) & 0xF) | ((at(j - 4) >> 6) << 4)
        let m = (at(j + 4) >> 4) | ((at(j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    // block_q4_K: half d, dmin; uint8 scales[12]; uint8 qs[128]
    private static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, b + 4), (sc2, m2) = scaleMinK4(2 * g + 1, b + 4)
            let d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2
            let q = 16 + 32 * g
            for l in 0..<32 {
                let v = byte(b, q + l)
                y[64 * g + l] = d1 * Float(v & 0xF) - mm1
                y[64 * g + 32 + l] = d2 * Float(v >> 4) - mm2
            }
        }
    }

    // block_q5_K: half d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
    private static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, b + 4), (sc2, m2) = scaleMinK4(2 * g + 1, b + 4)
            let d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2
            let u1 = UInt8(1) << UInt8(2 * g), u2 = UInt8(2) << UInt8(2 * g)
            let q = 48 + 32 * g
            for l in 0..<32 {
                let v = byte(b, q + l), h = byte(b, 16 + l)
                y[64 * g + l] = d1 * Float((v & 0xF) + (h & u1 != 0 ? 16 : 0)) - mm1
                y[64 * g + 32 + l] = d2 * Float((v >> 4) + (h & u2 != 0 ? 16 : 0)) - mm2
            }
        }
    }

    // block_q6_K: uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d
    private static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 208)
        for n in 0..<2 {
            let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n
            func scale(_ i: Int) -> Float { Float(b.load(fromByteOffset: sc + i, as: Int8.self)) }
            for l in 0..<32 {
                let s = l / 16
                let h = byte(b, qh + l)
                let q1 = Int((byte(b, ql + l) & 0xF) | ((h >> 0) & 3) << 4) - 32
                let q2 = Int((byte(b, ql + l + 32) & 0xF) | ((h >> 2) & 3) << 4) - 32
                let q3 = Int((byte(b, ql + l) >> 4) | ((h >> 4) & 3) << 4) - 32
                let q4 = Int((byte(b, ql + l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
                y[128 * n + l] = d * scale(s) * Float(q1)
                y[128 * n + l + 32] = d * scale(s + 2) * Float(q2)
                y[128 * n + l + 64] = d * scale(s + 4) * Float(q3)
                y[128 * n + l + 96] = d * scale(s + 6) * Float(q4)
            }
        }
    }

    // block_q8_K: float d; int8 qs[256]; int16 bsums[16]
    private static func q8_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Float(bitPattern: b.loadUnaligned(as: UInt32.self))
        for j in 0..<256 { y[j] = Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) * d }
    }
}
