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

    /// Whether a matrix of this type and shape would be wholly interleaved at load, without
    /// making it (a process that does not hold the weights still knows how they multiply).
    public static func isFullyInterleaved(type: GGMLType, rows: Int, columns: Int) -> Bool {
        rows > 0 && rows % 8 == 0 && pg_packed_bytes(Int32(type.rawValue), Int64(columns), Int64(rows)) > 0
    }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        Dequantize.row(type, data + r * rowBytes, out, count: columns)
    }
}

extension GGMLType {
    /// Whether `pg_gemm_q` multiplies rows of this type in GGML layout.
    var hasRowKernel: Bool {
        switch self {
        case .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K: true
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
    /// The parallel loops of the interleaved products and the activation quantization, reused
    /// so that no call allocates.
    let interleaved = InterleavedProducts()
    let quantizeRows = QuantizeRows()
    let floatProducts = FloatProducts()

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
/// remaining rows through the GGML-layout integer kernels (Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K), the float
/// kernels (F32, F16, BF16), or dequantization to floats (other types).
public func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
                   scratch: MatMulScratch, pool: ThreadPool) {
    let k = w.columns, wtype = Int32(w.type.rawValue)
    let chunks = tokens > 1 ? 4 : 8
    let packedRows = w.packed?.rows ?? 0
    var q: UnsafeMutablePointer<pg_block_q8>?
    if w.packed != nil {
        let blocks = quantizeActivations(x, columns: k, tokens: tokens, scratch: scratch, pool: pool)
        q = blocks
        withUnsafePointer(to: w) { matrix in
            withUnsafePointer(to: y) { output in
                scratch.interleaved.run(UnsafeBufferPointer(start: matrix, count: 1), blocks, tokens: tokens,
                                        into: UnsafeBufferPointer(start: output, count: 1), pool: pool)
            }
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
        scratch.floatProducts.run(w, x, tokens: tokens, into: y, rows: packedRows..<w.rows, chunksPerThread: chunks, pool: pool)
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
    matmul(ws, quantized: q, tokens: tokens, into: ys, scratch: scratch, pool: pool)
}

/// Products of wholly interleaved matrices with activations the caller quantized: `q` holds
/// `tokens` rows of `columns / 32` blocks.
public func matmul(_ ws: [WeightMatrix], quantized q: UnsafePointer<pg_block_q8>, tokens: Int,
                   into ys: [UnsafeMutablePointer<Float>], scratch: MatMulScratch, pool: ThreadPool) {
    precondition(ws.count == ys.count && ws.allSatisfy { $0.isFullyInterleaved }, "wholly interleaved matrices, one output each")
    ws.withUnsafeBufferPointer { matrices in
        ys.withUnsafeBufferPointer { outputs in
            scratch.interleaved.run(matrices, q, tokens: tokens, into: outputs, pool: pool)
        }
    }
}

/// The x8 products of one or more matrices over the same activations as one parallel loop over
/// their groups of 8 rows (an object, so handing it to the workers allocates nothing). Rows
/// past the interleaved ones are not its business.
final class InterleavedProducts: ParallelLoop, @unchecked Sendable {
    /// One matrix of the loop, as plain values (no reference counting on the workers' path).
    private struct Entry {
        var wtype: Int32 = 0
        var packed: UnsafeRawPointer?
        var columns = 0, rows = 0, groups = 0
        var output: UnsafeMutablePointer<Float>?
    }

    private static let capacity = 8
    private let entries = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
    private var count = 0
    private var x = UnsafePointer<pg_block_q8>(bitPattern: 64)!
    private var tokens = 0
    private let split = GuidedSplit()

    override init() { entries.initialize(repeating: Entry(), count: Self.capacity) }

    deinit { entries.deallocate() }

    /// The caller keeps the matrices alive until it returns.
    func run(_ ws: UnsafeBufferPointer<WeightMatrix>, _ q: UnsafePointer<pg_block_q8>, tokens: Int,
             into ys: UnsafeBufferPointer<UnsafeMutablePointer<Float>>, pool: ThreadPool) {
        precondition(ws.count <= Self.capacity && ws.count == ys.count)
        var groups = 0
        for i in ws.indices {
            let w = ws[i], rows8 = w.packed?.rows ?? 0
            entries[i] = Entry(wtype: Int32(w.type.rawValue), packed: w.packed.map { UnsafeRawPointer($0.data) }, columns: w.columns,
                               rows: w.rows, groups: rows8 / 8, output: ys[i])
            groups += rows8 / 8
        }
        count = ws.count
        x = q
        self.tokens = tokens
        // Pairs of groups, which the 512-bit kernels take together (a lone group runs on 256 bits),
        // in shrinking ranges: with equal ones (8 a thread), one thread still ran the last range
        // alone, and the threads of a decode step waited on each other for about 1 µs a product.
        split.cut(groups, granularity: 2, threads: pool.threadCount)
        pool.parallelFor(split.count, self)
    }

    override func run(_ index: Int) {
        let range = split.range(index)
        var first = 0  // the first group of entry i
        for i in 0..<count {
            let e = entries[i]
            let lo = max(range.lowerBound, first), hi = min(range.upperBound, first + e.groups)
            if lo < hi {
                pg_gemm_q_x8(e.wtype, e.packed, Int64(e.columns), Int64((lo - first) * 8), Int64((hi - first) * 8), x, Int64(tokens),
                             e.output, Int64(e.rows))
            }
            first += e.groups
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
        scratch.quantizeRows.run(x, columns: k, tokens: tokens, into: q, pool: pool)
    } else {
        for t in 0..<tokens { pg_quantize_q8(x + t * k, q + t * blocksPerToken, Int64(k)) }
    }
    return q
}

/// Float-weight products (F32, F16, BF16) over a range of rows in parallel, as a loop object
/// (handing it over allocates nothing; float routers and heads run in the decode step).
final class FloatProducts: ParallelLoop, @unchecked Sendable {
    private var wtype: Int32 = 0
    private var w = UnsafeRawPointer(bitPattern: 64)!
    private var k = 0, tokens = 0, ldy = 0, firstRow = 0
    private var x = UnsafePointer<Float>(bitPattern: 64)!
    private var y = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var split = RangeSplit(0, threads: 1)

    func run(_ matrix: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, rows: Range<Int>,
             chunksPerThread: Int, pool: ThreadPool) {
        wtype = Int32(matrix.type.rawValue)
        w = matrix.data
        k = matrix.columns
        ldy = matrix.rows
        firstRow = rows.lowerBound
        self.x = x
        self.y = y
        self.tokens = tokens
        split = RangeSplit(rows.count, granularity: 4, chunksPerThread: chunksPerThread, threads: pool.threadCount)
        pool.parallelFor(split.count, self)
    }

    override func run(_ index: Int) {
        let r = split.range(index)
        pg_gemm_f(wtype, w, Int64(k), Int64(firstRow + r.lowerBound), Int64(firstRow + r.upperBound), x, Int64(tokens), y, Int64(ldy))
    }
}

/// Activation rows quantized in parallel, as a loop object (handing it over allocates nothing).
final class QuantizeRows: ParallelLoop, @unchecked Sendable {
    private var x = UnsafePointer<Float>(bitPattern: 64)!
    private var q = UnsafeMutablePointer<pg_block_q8>(bitPattern: 64)!
    private var k = 0
    private var split = RangeSplit(0, threads: 1)

    func run(_ x: UnsafePointer<Float>, columns k: Int, tokens: Int, into q: UnsafeMutablePointer<pg_block_q8>, pool: ThreadPool) {
        self.x = x
        self.q = q
        self.k = k
        split = RangeSplit(tokens, threads: pool.threadCount)
        pool.parallelFor(split.count, self)
    }

    override func run(_ index: Int) {
        for t in split.range(index) { pg_quantize_q8(x + t * k, q + t * k / 32, Int64(k)) }
    }
}
