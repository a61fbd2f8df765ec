import CKernels
import Kernels

/// Scratch memory of the MoE layers' forward passes (router logits, routing, the gathered and
/// per-expert activations), grown to the largest batch seen and reused, so that a steady-state
/// step allocates nothing.
final class ExpertWorkspace: @unchecked Sendable {
    /// n × E router logits.
    var logits = ScratchBuffer<Float>()
    /// n × k: the chosen slot and weight of each (token, rank) pair, and the row that pair's
    /// expert output lands in (rows are grouped by slot).
    var pairSlot = ScratchBuffer<Int32>()
    var pairWeight = ScratchBuffer<Float>()
    var pairRow = ScratchBuffer<Int32>()
    /// Per row (n × k): the token whose activations it holds.
    var rowToken = ScratchBuffer<Int32>()
    /// Per slot: its rows' count, then their first row.
    var slotRows = ScratchBuffer<Int32>()
    var slotStart = ScratchBuffer<Int32>()
    /// Per logical expert: the pass's pairs routed to it, and how many have their slot so far.
    var expertPairs = ScratchBuffer<Int32>()
    var expertOrdinal = ScratchBuffer<Int32>()
    /// The batch's activations as 8-bit blocks (n × d/32), then gathered by row (n·k × d/32).
    var quantized = ScratchBuffer<pg_block_q8>()
    var gathered = ScratchBuffer<pg_block_q8>()
    /// Float activations gathered by row, for experts without interleaved kernels (n·k × d).
    var gatheredFloats = ScratchBuffer<Float>()
    /// Gate and up outputs (n·k × ff), the gated activation quantized (n·k × ff/32), and the
    /// experts' outputs (n·k × d).
    var gate = ScratchBuffer<Float>()
    var up = ScratchBuffer<Float>()
    var hidden = ScratchBuffer<pg_block_q8>()
    var down = ScratchBuffer<Float>()
    /// The shared expert's gate and up (n × ff), its output (n × d).
    var sharedGate = ScratchBuffer<Float>()
    var sharedUp = ScratchBuffer<Float>()
    var sharedOut = ScratchBuffer<Float>()
    let products = ExpertProducts()
    let activation = ExpertActivation()

    deinit {
        logits.free(); pairSlot.free(); pairWeight.free(); pairRow.free(); rowToken.free(); slotRows.free(); slotStart.free()
        expertPairs.free(); expertOrdinal.free()
        quantized.free(); gathered.free(); gatheredFloats.free(); gate.free(); up.free(); hidden.free(); down.free()
        sharedGate.free(); sharedUp.free(); sharedOut.free()
    }
}

/// The gated activation of every expert row, quantized for the down products, as one parallel
/// loop object (handing it to the pool allocates nothing).
final class ExpertActivation: ParallelLoop, @unchecked Sendable {
    private var gate = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var up = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var out: UnsafeMutablePointer<pg_block_q8>?
    private var width = 0
    private var activation = MLPActivation.silu
    private var split = RangeSplit(0, threads: 1)

    /// act(gate) · up for `rows` rows of `width`, into `gate`, and into 8-bit blocks when `out` is set.
    func run(_ activation: MLPActivation, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>, width: Int, rows: Int,
             into out: UnsafeMutablePointer<pg_block_q8>?, pool: ThreadPool) {
        self.gate = gate
        self.up = up
        self.out = out
        self.width = width
        self.activation = activation
        if rows < 4 {
            for r in 0..<rows { row(r) }
            return
        }
        split = RangeSplit(rows, threads: pool.threadCount)
        pool.parallelFor(split.count, self)
    }

    override func run(_ index: Int) {
        for r in split.range(index) { row(r) }
    }

    private func row(_ r: Int) {
        let g = gate + r * width, u = up + r * width
        switch activation {
        case .silu: siluMul(g, u, width)
        case .geluTanh: geluTanhMul(g, u, width)
        }
        if let out { pg_quantize_q8(g, out + r * width / 32, Int64(width)) }
    }
}
