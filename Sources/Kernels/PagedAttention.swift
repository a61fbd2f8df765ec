#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Precision of the values held in the KV cache.
public enum KVPrecision: Sendable {
    case float32
    /// Rounded to half precision on store, as llama.cpp's default F16 cache holds them
    /// (kept in float lanes for now; packing them as halves is a memory/bandwidth win for later).
    case float16
}

/// Where one layer's keys and values live: a pool of fixed-size blocks,
/// laid out `[block][kvHead][slotInBlock][headDim]` for K and for V.
public struct KVLayerView: @unchecked Sendable {
    public let keys: UnsafeMutablePointer<Float>
    public let values: UnsafeMutablePointer<Float>
    public let blockSize: Int
    public let kvHeads: Int
    public let headDim: Int
    public let precision: KVPrecision

    public init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, blockSize: Int, kvHeads: Int, headDim: Int,
                precision: KVPrecision = .float32) {
        self.precision = precision
        self.keys = keys
        self.values = values
        self.blockSize = blockSize
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    /// Offset of (slot, kvHead) in `keys`/`values`, where slot = block * blockSize + offset.
    @inline(__always)
    public func offset(slot: Int, kvHead: Int) -> Int {
        let block = slot / blockSize, inBlock = slot - block * blockSize
        return ((block * kvHeads + kvHead) * blockSize + inBlock) * headDim
    }

    /// Writes one token's K and V (all kv heads, contiguous) into `slot`.
    @inline(__always)
    public func store(slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        for h in 0..<kvHeads {
            let o = offset(slot: slot, kvHead: h)
            if precision == .float16 {
                for j in 0..<headDim {
                    keys[o + j] = Float(Float16(key[h * headDim + j]))
                    values[o + j] = Float(Float16(value[h * headDim + j]))
                }
            } else {
                (keys + o).update(from: key + h * headDim, count: headDim)
                (values + o).update(from: value + h * headDim, count: headDim)
            }
        }
    }
}

/// Attention of one query head over a paged context, with an online softmax
/// (FlashAttention's recurrence: one pass, no score matrix).
///
/// - Parameters:
///   - query: `headDim` floats.
///   - blockTable: the sequence's block ids, in position order.
///   - contextLength: attend to positions `0..<contextLength`.
///   - out: `headDim` floats of output.
@inline(__always)
public func pagedAttention(query: UnsafePointer<Float>, kvHead: Int, layer: KVLayerView,
                           blockTable: UnsafePointer<Int32>, contextLength: Int, scale: Float,
                           out: UnsafeMutablePointer<Float>) {
    let d = layer.headDim, bs = layer.blockSize
    out.initialize(repeating: 0, count: d)
    var runningMax = -Float.infinity
    var denominator: Float = 0
    withUnsafeTemporaryAllocation(of: Float.self, capacity: bs) { scores in
        var start = 0
        var blockIndex = 0
        while start < contextLength {
            let n = min(bs, contextLength - start)
            let base = (Int(blockTable[blockIndex]) * layer.kvHeads + kvHead) * bs * d
            let k = layer.keys + base, v = layer.values + base
            var blockMax = -Float.infinity
            for j in 0..<n {
                let s = dot(query, k + j * d, d) * scale
                scores[j] = s
                blockMax = max(blockMax, s)
            }
            if blockMax > runningMax {
                let correction = expf(runningMax - blockMax)
                denominator *= correction
                Kernels.scale(out, by: correction, d)
                runningMax = blockMax
            }
            for j in 0..<n {
                let p = expf(scores[j] - runningMax)
                denominator += p
                axpy(p, v + j * d, out, d)
            }
            start += n
            blockIndex += 1
        }
    }
    Kernels.scale(out, by: 1 / denominator, d)
}
