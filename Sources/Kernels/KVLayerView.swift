/// The element type of the KV cache (`--kv-cache-dtype`).
public enum KVPrecision: String, Sendable, CaseIterable {
    /// 32-bit floats.
    case float32 = "f32"
    /// IEEE half precision, llama.cpp's default cache type.
    case float16 = "f16"
    /// bfloat16: float's exponent range with 8 bits of mantissa.
    case bfloat16 = "bf16"

    /// Bytes per stored value.
    public var bytes: Int { self == .float32 ? 4 : 2 }

    /// The C kernels' code for it (`PG_KV_*`).
    var kernelCode: Int32 {
        switch self {
        case .float32: 0
        case .float16: 1
        case .bfloat16: 2
        }
    }

    /// `x` as it reads back after a round trip through the cache.
    public func rounded(_ x: Float) -> Float {
        switch self {
        case .float32: x
        case .float16: Float(Float16(x))
        case .bfloat16: BFloat16Element.widen(BFloat16Element.narrow(x))
        }
    }
}

/// How one element type of the cache is written and read back (16 lanes at a time for the
/// attention kernels); `i` counts elements, not bytes.
protocol KVElement {
    static func load16(_ p: UnsafeRawPointer, _ i: Int) -> Vec16
    static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float
    static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int)
}

enum Float32Element: KVElement {
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> Vec16 {
        (p + 4 * i).loadUnaligned(as: Vec16.self)
    }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        p.load(fromByteOffset: 4 * i, as: Float.self)
    }
    @inline(__always) static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.storeBytes(of: x, toByteOffset: 4 * i, as: Float.self)
    }
}

enum Float16Element: KVElement {
    // A per-lane loop: LLVM turns it into vcvtph2ps (the SIMD conversion initializer does not).
    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> Vec16 {
        let h = p.assumingMemoryBound(to: Float16.self) + i
        var r = Vec16()
        for j in 0..<16 { r[j] = Float(h[j]) }
        return r
    }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        Float(p.load(fromByteOffset: 2 * i, as: Float16.self))
    }
    @inline(__always) static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.storeBytes(of: Float16(x), toByteOffset: 2 * i, as: Float16.self)
    }
}

enum BFloat16Element: KVElement {
    @inline(__always) static func widen(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Rounds to nearest, ties to even (NaN stays a quiet NaN).
    @inline(__always) static func narrow(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let b = x.bitPattern
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    @inline(__always) static func load16(_ p: UnsafeRawPointer, _ i: Int) -> Vec16 {
        let h = p.assumingMemoryBound(to: UInt16.self) + i
        var r = Vec16()
        for j in 0..<16 { r[j] = widen(h[j]) }
        return r
    }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        widen(p.load(fromByteOffset: 2 * i, as: UInt16.self))
    }
    @inline(__always) static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.storeBytes(of: narrow(x), toByteOffset: 2 * i, as: UInt16.self)
    }
}

/// Where one layer's keys and values live: a pool of fixed-size blocks. Values are laid out
/// `[block][kvHead][slotInBlock][headDim]`; keys are transposed within a block,
/// `[block][kvHead][headDim][slotInBlock]`, so the scores of a whole block are one run of
/// vector FMAs (a block of 16 slots is one `SIMD16`), with no horizontal sums.
public struct KVLayerView: @unchecked Sendable {
    public let keys: UnsafeMutableRawPointer
    public let values: UnsafeMutableRawPointer
    public let blockSize: Int
    public let kvHeads: Int
    public let headDim: Int
    public let precision: KVPrecision

    /// `keys` and `values` each hold `blocks × kvHeads × blockSize × headDim` elements of `precision`.
    public init(keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer, blockSize: Int, kvHeads: Int, headDim: Int,
                precision: KVPrecision = .float32) {
        self.precision = precision
        self.keys = keys
        self.values = values
        self.blockSize = blockSize
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    /// Element index of (block, kvHead) in `keys` or `values`.
    @inline(__always)
    func base(block: Int, kvHead: Int) -> Int {
        (block * kvHeads + kvHead) * blockSize * headDim
    }

    /// Writes one token's K and V (all kv heads, contiguous) into `slot` = block × blockSize + offset.
    public func store(slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        switch precision {
        case .float32: store(Float32Element.self, slot: slot, key: key, value: value)
        case .float16: store(Float16Element.self, slot: slot, key: key, value: value)
        case .bfloat16: store(BFloat16Element.self, slot: slot, key: key, value: value)
        }
    }

    @inline(__always)
    private func store<E: KVElement>(_: E.Type, slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        for h in 0..<kvHeads {
            let b = base(block: block, kvHead: h)
            for j in 0..<headDim {
                E.store(key[h * headDim + j], keys, b + j * blockSize + inBlock)
                E.store(value[h * headDim + j], values, b + inBlock * headDim + j)
            }
        }
    }

    /// The key of `slot` for `kvHead` as stored (for tests and debugging).
    public func key(slot: Int, kvHead: Int) -> [Float] {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        let b = base(block: block, kvHead: kvHead)
        return (0..<headDim).map { load(keys, b + $0 * blockSize + inBlock) }
    }

    /// The value of `slot` for `kvHead` as stored.
    public func value(slot: Int, kvHead: Int) -> [Float] {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        let b = base(block: block, kvHead: kvHead)
        return (0..<headDim).map { load(values, b + inBlock * headDim + $0) }
    }

    private func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        switch precision {
        case .float32: Float32Element.load(p, i)
        case .float16: Float16Element.load(p, i)
        case .bfloat16: BFloat16Element.load(p, i)
        }
    }
}
