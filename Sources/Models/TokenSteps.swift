import CKernels
import Kernels

/// The per-token steps of a decoder block, between its matrix products.
enum TokenStep {
    /// RMSNorm before attention (adding the previous block's output first, when it is pending).
    case attentionNorm
    /// Biases, Q/K norms, RoPE, and the token's K/V into the cache.
    case prepareQKV
    /// Residual add and RMSNorm before the MLP.
    case ffnNorm
    /// act(gate) · up (and its quantization for the down projection).
    case gatedActivation
}

/// What a block's per-token steps read, fixed for one block's pass.
struct LayerPass {
    let ws: Workspace
    let meta: AttentionMetadata
    let kv: KVLayerView
    let config: ModelConfig
    let pending: PendingProjection
    /// Activation blocks of the fused path (nil: the products quantize floats themselves).
    let blocks: UnsafeMutablePointer<pg_block_q8>?
}

/// Runs a ``TokenStep`` over a batch's tokens: inline for a few, otherwise as one parallel loop
/// of this object (handing an object to the pool's workers allocates nothing; a closure would).
final class TokenSteps: ParallelLoop, @unchecked Sendable {
    private unowned(unsafe) var layer: DecoderLayer?
    private var pass: LayerPass?
    private var step = TokenStep.attentionNorm
    private var split = RangeSplit(0, threads: 1)

    func run(_ step: TokenStep, of layer: DecoderLayer, _ pass: LayerPass, tokens n: Int, pool: ThreadPool) {
        if n < 4 {
            for t in 0..<n { layer.run(step, token: t, pass) }
            return
        }
        self.layer = layer
        self.pass = pass
        self.step = step
        // K/V go into the cache with keys transposed: a block's row of slots shares cache lines
        // across a sequence's consecutive tokens. Such tokens on both threads made those lines
        // bounce between the cores (the stores took 6 times as long in a 9-token verification
        // step), so they go in runs of a block's size; tokens of different sequences (batched
        // decode) write apart.
        let sharesBlocks = step == .prepareQKV && pass.meta.hasSequenceRuns
        split = RangeSplit(n, granularity: sharesBlocks ? pass.kv.blockSize : 1, threads: pool.threadCount)
        pool.parallelFor(split.count, self)
        self.pass = nil
    }

    override func run(_ index: Int) {
        guard let layer, let pass else { return }
        for t in split.range(index) { layer.run(step, token: t, pass) }
    }
}
