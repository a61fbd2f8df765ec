import CKernels
import GGUF

/// A weight matrix in GGML layout: `rows` rows of `columns` elements, each row a run of blocks.
///
/// Types with integer micro-kernels also keep an interleaved copy of their rows in groups of 8
/// (made once, at load), the layout the x8 kernels want; the GGML rows stay for lookups.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let data: UnsafeRawPointer
    /// Rows `0..<packed.rows` interleaved for the x8 kernels; the rest (fewer than 8) use `data`.
    let packed: PackedRows?

    /// - Parameter repack: make the interleaved copy when the type has x8 kernels (tests turn it
    ///   off to reach the GGML-layout kernels).
    public init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer, repack: Bool = true) {
        precondition(columns % type.blockSize == 0, "row length must be a whole number of blocks")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
        packed = repack ? PackedRows(type: type, rows: rows, columns: columns, data: data) : nil
    }

    public var rowBytes: Int { columns / type.blockSize * type.blockBytes }

    /// Whether every row is in the interleaved copy (so products take pre-quantized activations).
    public var isFullyInterleaved: Bool { packed?.rows == rows }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        Dequantize.row(type, data + r * rowBytes, out, count: columns)
    }
}

extension GGMLType {
    /// Whether `pg_gemm_q` multiplies rows of this type in GGML layout.
    var hasRowKernel: Bool {
        switch self {
        case .q4_1, .q8_0, .q4_K, .q6_K: true
        default: false
        }
    }
}

/// The interleaved copy of a matrix's leading rows (a multiple of 8), freed with the last
/// `WeightMatrix` that refers to it.
final class PackedRows: @unchecked Sendable {
    let rows: Int
    let data: UnsafeMutableRawPointer

    init?(type: GGMLType, rows: Int, columns: Int, data source: UnsafeRawPointer) {
        let wtype = Int32(type.rawValue)
        let rows8 = rows / 8 * 8
        let bytes = pg_packed_bytes(wtype, Int64(columns), Int64(rows8))
        guard rows8 > 0, bytes > 0 else { return nil }
        self.rows = rows8
        data = .allocate(byteCount: Int(bytes), alignment: 64)
        let rc = pg_repack_x8(wtype, source, Int64(columns), Int64(rows8), data)
        precondition(rc == 0, "pg_repack_x8 rejected a type pg_packed_bytes accepted")
    }

    deinit { data.deallocate() }
}

/// Scratch memory for matrix products, grown on demand and reused across calls.
public final class MatMulScratch: @unchecked Sendable {
    private(set) var quantized: UnsafeMutablePointer<pg_block_q8>
    private var capacity: Int

    public init() {
        capacity = 0
        quantized = .allocate(capacity: 1)
    }

    deinit { quantized.deallocate() }

    func reserveBlocks(_ n: Int) {
        if n <= capacity { return }
        quantized.deallocate()
        quantized = .allocate(capacity: n)
        capacity = n
    }

    /// Room for `count` activation blocks, for a caller that quantizes them itself (fused with
    /// RMSNorm or SwiGLU); valid until the next call that may grow the scratch.
    public func activationBlocks(_ count: Int) -> UnsafeMutablePointer<pg_block_q8> {
        reserveBlocks(count)
        return quantized
    }
}

/// Y = X · Wᵀ: `x` holds `tokens` rows of `w.columns` floats, `y` gets `tokens` rows of `w.rows`.
///
/// Interleaved rows go through the x8 integer kernels (activations quantized to 8 bits once);
/// remaining rows through the GGML-layout integer kernels (Q4_1, Q8_0, Q4_K, Q6_K), the float
/// kernels (F32, F16, BF16), or dequantization to floats (other types).
public func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
                   scratch: MatMulScratch, pool: ThreadPool) {
    let k = w.columns, wtype = Int32(w.type.rawValue)
    let chunks = tokens > 1 ? 4 : 8
    let packedRows = w.packed?.rows ?? 0
    var q: UnsafeMutablePointer<pg_block_q8>?
    if let packed = w.packed {
        let blocks = quantizeActivations(x, columns: k, tokens: tokens, scratch: scratch, pool: pool)
        q = blocks
        pool.parallelRanges(packedRows, granularity: 8, chunksPerThread: chunks) { rows in
            pg_gemm_q_x8(wtype, packed.data, Int64(k), Int64(rows.lowerBound), Int64(rows.upperBound), blocks, Int64(tokens), y, Int64(w.rows))
        }
    }
    if packedRows == w.rows { return }
    let rest = w.rows - packedRows
    if w.type.hasRowKernel {
        let blocks = q ?? quantizeActivations(x, columns: k, tokens: tokens, scratch: scratch, pool: pool)
        pool.parallelRanges(rest, granularity: 8, chunksPerThread: chunks) { rows in
            pg_gemm_q(wtype, w.data, Int64(k), Int64(packedRows + rows.lowerBound), Int64(packedRows + rows.upperBound),
                      blocks, Int64(tokens), y, Int64(w.rows))
        }
    } else if w.type == .f32 || w.type == .f16 || w.type == .bf16 {
        pool.parallelRanges(rest, granularity: 4, chunksPerThread: chunks) { rows in
            pg_gemm_f(wtype, w.data, Int64(k), Int64(packedRows + rows.lowerBound), Int64(packedRows + rows.upperBound),
                      x, Int64(tokens), y, Int64(w.rows))
        }
    } else {
        pool.parallelRanges(rest, granularity: 4) { rows in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { buffer in
                let row = buffer.baseAddress!
                for r in rows.lowerBound + packedRows..<rows.upperBound + packedRows {
                    w.dequantizeRow(r, into: row)
                    for t in 0..<tokens { y[t * w.rows + r] = dot(row, x + t * k, k) }
                }
            }
        }
    }
}

/// The same X times several matrices of equal width (Q, K and V; gate and up): X is quantized
/// once and all their rows share one parallel region. Falls back to one `matmul` each unless
/// every matrix is wholly interleaved.
public func matmul(_ ws: [WeightMatrix], _ x: UnsafePointer<Float>, tokens: Int, into ys: [UnsafeMutablePointer<Float>],
                   scratch: MatMulScratch, pool: ThreadPool) {
    precondition(ws.count == ys.count && !ws.isEmpty, "one output per matrix")
    let k = ws[0].columns
    guard ws.allSatisfy({ $0.columns == k && $0.isFullyInterleaved }) else {
        for (w, y) in zip(ws, ys) { matmul(w, x, tokens: tokens, into: y, scratch: scratch, pool: pool) }
        return
    }
    let q = quantizeActivations(x, columns: k, tokens: tokens, scratch: scratch, pool: pool)
    matmul(ws, quantized: q, tokens: tokens, into: ys, pool: pool)
}

/// Products of wholly interleaved matrices with activations the caller quantized: `q` holds
/// `tokens` rows of `columns / 32` blocks.
public func matmul(_ ws: [WeightMatrix], quantized q: UnsafePointer<pg_block_q8>, tokens: Int,
                   into ys: [UnsafeMutablePointer<Float>], pool: ThreadPool) {
    precondition(ws.count == ys.count && ws.allSatisfy { $0.isFullyInterleaved }, "wholly interleaved matrices, one output each")
    let k = ws[0].columns
    let groups = ws.reduce(0) { $0 + $1.rows / 8 }
    pool.parallelRanges(groups, chunksPerThread: tokens > 1 ? 4 : 8) { range in
        var first = 0  // the first group of matrix i
        for (w, y) in zip(ws, ys) {
            let count = w.rows / 8
            let lo = max(range.lowerBound, first), hi = min(range.upperBound, first + count)
            if lo < hi {
                pg_gemm_q_x8(Int32(w.type.rawValue), w.packed!.data, Int64(k), Int64((lo - first) * 8), Int64((hi - first) * 8),
                             q, Int64(tokens), y, Int64(w.rows))
            }
            first += count
        }
    }
}

/// X in 8-bit blocks of 32 (in the scratch buffer), one row of `columns / 32` blocks per token.
private func quantizeActivations(_ x: UnsafePointer<Float>, columns k: Int, tokens: Int, scratch: MatMulScratch,
                                 pool: ThreadPool) -> UnsafeMutablePointer<pg_block_q8> {
    let blocksPerToken = k / 32
    scratch.reserveBlocks(blocksPerToken * tokens)
    let q = scratch.quantized
    if tokens >= 8 {
        pool.parallelRanges(tokens) { range in
            for t in range { pg_quantize_q8(x + t * k, q + t * blocksPerToken, Int64(k)) }
        }
    } else {
        for t in 0..<tokens { pg_quantize_q8(x + t * k, q + t * blocksPerToken, Int64(k)) }
    }
    return q
}
