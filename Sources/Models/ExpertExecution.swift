import CKernels
import Kernels

/// The input rows of grouped expert MLPs, gathered one row per (token, expert) pair.
public enum ExpertRows {
    /// `hidden / 32` 8-bit blocks a row (experts with interleaved kernels).
    case quantized(UnsafePointer<pg_block_q8>)
    /// `hidden` floats a row.
    case floats(UnsafePointer<Float>)
}

/// Routed experts' gated MLPs over runs of gathered rows, one run per expert (llama.cpp's
/// `mul_mat_id`): gate and up of every run in one parallel loop, the gated activation, then every
/// down product. A model's MoE layer and an expert worker run this same code on the same rows, so
/// a row's output does not depend on the process that computed it.
public struct ExpertExecution: @unchecked Sendable {
    let workspace: ExpertWorkspace
    let scratch: MatMulScratch

    /// Buffers of its own (an expert worker's).
    public init() {
        self.init(workspace: ExpertWorkspace(), scratch: MatMulScratch())
    }

    init(workspace: ExpertWorkspace, scratch: MatMulScratch) {
        self.workspace = workspace
        self.scratch = scratch
    }

    /// Runs `runs` runs of `rows` input rows into `out` (`rows × hidden`): `run(i)` gives run i's
    /// expert and its rows (`first ..< first + count`), or nil for an empty run. Every expert is
    /// `width` wide and has the layout `input` asks for (interleaved for quantized rows).
    public func run(_ runs: Int, _ run: (Int) -> (mlp: ExpertMLP, first: Int, count: Int)?, input: ExpertRows, rows: Int,
                    hidden d: Int, width f: Int, activation: MLPActivation, pool: ThreadPool, into out: UnsafeMutablePointer<Float>) {
        let ws = workspace
        ws.gate.reserve(rows * f)
        ws.up.reserve(rows * f)
        switch input {
        case .quantized(let x):
            let bd = d / 32, bf = f / 32
            ws.hidden.reserve(rows * bf)
            ws.products.reserve(entries: 2 * runs, threads: pool.threadCount)
            for i in 0..<runs {
                guard let (mlp, first, count) = run(i) else { continue }
                ws.products.add(mlp.gate, x + first * bd, tokens: count, into: ws.gate.pointer + first * f)
                ws.products.add(mlp.up, x + first * bd, tokens: count, into: ws.up.pointer + first * f)
            }
            ws.products.run(pool: pool)
            ws.activation.run(activation, gate: ws.gate.pointer, up: ws.up.pointer, width: f, rows: rows, into: ws.hidden.pointer, pool: pool)
            for i in 0..<runs {
                guard let (mlp, first, count) = run(i) else { continue }
                ws.products.add(mlp.down, ws.hidden.pointer + first * bf, tokens: count, into: out + first * d)
            }
            ws.products.run(pool: pool)
        case .floats(let x):
            for i in 0..<runs {
                guard let (mlp, first, count) = run(i) else { continue }
                matmul(mlp.gate, x + first * d, tokens: count, into: ws.gate.pointer + first * f, scratch: scratch, pool: pool)
                matmul(mlp.up, x + first * d, tokens: count, into: ws.up.pointer + first * f, scratch: scratch, pool: pool)
            }
            ws.activation.run(activation, gate: ws.gate.pointer, up: ws.up.pointer, width: f, rows: rows, into: nil, pool: pool)
            for i in 0..<runs {
                guard let (mlp, first, count) = run(i) else { continue }
                matmul(mlp.down, ws.gate.pointer + first * f, tokens: count, into: out + first * d, scratch: scratch, pool: pool)
            }
        }
    }
}
