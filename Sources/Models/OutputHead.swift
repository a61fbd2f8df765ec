import Kernels

/// The final RMSNorm and the LM head matrix, shared by a ``DecoderModel`` and its
/// ``NextTokenPredictor`` when the nextn layer has no `shared_head_norm` / `shared_head_head` of its own.
struct OutputHead {
    let norm: [Float]
    let matrix: WeightMatrix

    /// Adds the last block's output (after `lastPostNorm`, if any) to the residual of the rows
    /// that give logits, norms them and multiplies them by the head into `ws.logits`. With
    /// `keepsHiddenStates`, every row is finished and normed into `ws.hiddenStates` (the logit
    /// rows copied from there, so their logits are the same bits); without, the other rows are
    /// left as they are.
    func logits(_ batch: ForwardBatch, lastPostNorm: [Float]?, keepsHiddenStates: Bool, config: ModelConfig,
                workspace: ForwardWorkspace, pool: ThreadPool) {
        let ws = workspace.buffers, d = config.hiddenSize, eps = config.rmsNormEps
        func finish(_ t: Int, into out: UnsafeMutablePointer<Float>) {
            let projection = ws.projected + t * d
            if let lastPostNorm { rmsNorm(projection, weight: lastPostNorm, eps: eps, into: projection, d) }
            addRMSNorm(projection, into: ws.hidden + t * d, weight: norm, eps: eps, out: out, d)
        }
        if keepsHiddenStates {
            for t in 0..<batch.count { finish(t, into: ws.hiddenStates + t * d) }
            workspace.hiddenStateCount = batch.count * d
            for (j, t) in batch.logitIndices.enumerated() { (ws.normed + j * d).update(from: ws.hiddenStates + Int(t) * d, count: d) }
        } else {
            for (j, t) in batch.logitIndices.enumerated() { finish(Int(t), into: ws.normed + j * d) }
        }
        let m = batch.logitIndices.count
        matmul(matrix, ws.normed, tokens: m, into: ws.logits, scratch: workspace.scratch, pool: pool)
        if let cap = config.finalLogitSoftcap { softcap(ws.logits, cap: cap, m * config.vocabSize) }
    }
}
