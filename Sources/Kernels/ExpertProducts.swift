import CKernels

/// Grouped products of a mixture-of-experts layer (llama.cpp's `mul_mat_id`): several wholly
/// interleaved matrices, each over its own run of quantized activation rows (the tokens routed to
/// that expert), in one parallel loop. Work items are runs of 8-row groups sized by each
/// matrix's token count, so an expert with many tokens is cut finer than one with few.
///
/// Add products with ``add(_:_:tokens:into:)``, then ``run(pool:)``; the buffers grow only when
/// a step has more products than any before, so the steady state allocates nothing.
public final class ExpertProducts: ParallelLoop, @unchecked Sendable {
    private struct Entry {
        var wtype: Int32 = 0
        var packed: UnsafeRawPointer?
        var columns = 0, rows = 0
        var x: UnsafePointer<pg_block_q8>?
        var tokens = 0
        var output: UnsafeMutablePointer<Float>?
    }

    private struct Item {
        var entry: Int32 = 0
        var lo: Int32 = 0, hi: Int32 = 0
    }

    private var entries = ScratchBuffer<Entry>()
    private var items = ScratchBuffer<Item>()
    private var count = 0, itemCount = 0

    override public init() {}

    deinit {
        entries.free()
        items.free()
    }

    /// Makes room for `entries` products per run (and their work items, at most 8 a thread more),
    /// so that steps with more active experts than earlier ones do not allocate.
    public func reserve(entries n: Int, threads: Int) {
        entries.reserveKeeping(n)
        items.reserveKeeping(n + 8 * threads + 1)
    }

    /// Whether ``add(_:_:tokens:into:)`` takes `w`: every row interleaved.
    public static func accepts(_ w: WeightMatrix) -> Bool { w.isFullyInterleaved }

    /// Queues (the caller keeps `w` alive until ``run(pool:)`` returns) `y = x · wᵀ` for `tokens` rows of `x` (`w.columns / 32` blocks each) into `tokens`
    /// rows of `w.rows` floats.
    public func add(_ w: WeightMatrix, _ x: UnsafePointer<pg_block_q8>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        precondition(w.isFullyInterleaved, "expert products need wholly interleaved matrices")
        entries.reserveKeeping(count + 1)
        entries[count] = Entry(wtype: Int32(w.type.rawValue), packed: UnsafeRawPointer(w.packed!.data), columns: w.columns,
                               rows: w.rows, x: x, tokens: tokens, output: y)
        count += 1
    }

    /// Runs every queued product, then forgets them.
    public func run(pool: ThreadPool) {
        defer { count = 0 }
        var work = 0
        for i in 0..<count { work += entries[i].rows / 8 * entries[i].tokens }
        guard work > 0 else { return }
        // About 8 items a thread, each near an equal share of group × token work.
        let share = max(1, work / (8 * pool.threadCount))
        itemCount = 0
        for i in 0..<count where entries[i].tokens > 0 {
            let groups = entries[i].rows / 8, span = max(1, share / entries[i].tokens)
            items.reserveKeeping(itemCount + (groups + span - 1) / span)
            for lo in stride(from: 0, to: groups, by: span) {
                items[itemCount] = Item(entry: Int32(i), lo: Int32(lo), hi: Int32(min(groups, lo + span)))
                itemCount += 1
            }
        }
        pool.parallelFor(itemCount, self)
    }

    public override func run(_ index: Int) {
        let item = items[index], e = entries[Int(item.entry)]
        pg_gemm_q_x8(e.wtype, e.packed, Int64(e.columns), Int64(item.lo) * 8, Int64(item.hi) * 8, e.x, Int64(e.tokens),
                     e.output, Int64(e.rows))
    }
}

/// Quantizes `tokens` rows of `columns` floats to 8-bit blocks of 32, `columns / 32` per row.
public func quantizeRows(_ x: UnsafePointer<Float>, columns: Int, tokens: Int, into q: UnsafeMutablePointer<pg_block_q8>) {
    for t in 0..<tokens { pg_quantize_q8(x + t * columns, q + t * columns / 32, Int64(columns)) }
}
