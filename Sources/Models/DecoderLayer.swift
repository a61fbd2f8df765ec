import CKernels
import Kernels

/// One decoder block's weights and its forward pass, built from the options of ``ModelConfig``:
/// pre-norm attention (Q/K/V biases, per-head Q/K norms, rope, full or sliding-window attention),
/// then a gated MLP (SwiGLU or GeGLU), each optionally followed by its own RMSNorm before it joins
/// the residual stream (Gemma's post-norms).
final class DecoderLayer: @unchecked Sendable {
    let attentionNorm: [Float]
    let wq, wk, wv, wo: WeightMatrix
    let qBias, kBias, vBias: [Float]?
    let qNorm, kNorm: [Float]?
    /// Norm of the attention output before the residual add (Gemma).
    let postAttentionNorm: [Float]?
    /// What the MLP's norm adds first: the attention output, after `postAttentionNorm` if set.
    let attentionOutput: PendingProjection
    let ffnNorm: [Float]
    /// The routed experts that stand in for the dense MLP (gate/up/down) in an MoE model.
    let experts: MoEFeedForward?
    /// Norm of the MLP output before the residual add (Gemma); the next block applies it.
    let postFFNNorm: [Float]?
    /// Q, K, V and gate, up: matrices that read the same input, multiplied in one parallel region
    /// (gate, up and down are empty in an MoE layer).
    let qkv, gateUp, downOnly: [WeightMatrix]
    /// Whether the QKV, gate/up and down products take activations quantized in the pass that
    /// makes them (RMSNorm or the gated activation fused with the quantization): every row interleaved.
    let fusesQuantization: Bool
    /// This layer's attention: which keys, which rope, which KV cache group.
    let attention: AttentionType
    let rope: Rope
    let kvGroup: Int

    init(index i: Int, config c: ModelConfig, layout: KVCacheLayout, loader: WeightLoader, moeLayer: Int?,
         routedExperts: Bool = true) throws(ModelError) {
        let p = "blk.\(i)."
        attentionNorm = try loader.vector(p + "attn_norm.weight", count: c.hiddenSize)
        wq = try loader.matrix(p + "attn_q.weight", rows: c.qDim, columns: c.hiddenSize)
        wk = try loader.matrix(p + "attn_k.weight", rows: c.kvDim, columns: c.hiddenSize)
        wv = try loader.matrix(p + "attn_v.weight", rows: c.kvDim, columns: c.hiddenSize)
        wo = try loader.matrix(p + "attn_output.weight", rows: c.hiddenSize, columns: c.qDim)
        if c.hasQKVBias {
            qBias = try loader.vector(p + "attn_q.bias", count: c.qDim)
            kBias = try loader.vector(p + "attn_k.bias", count: c.kvDim)
            vBias = try loader.vector(p + "attn_v.bias", count: c.kvDim)
        } else {
            qBias = try loader.optionalVector(p + "attn_q.bias", count: c.qDim)
            kBias = try loader.optionalVector(p + "attn_k.bias", count: c.kvDim)
            vBias = try loader.optionalVector(p + "attn_v.bias", count: c.kvDim)
        }
        if c.hasQKNorm {
            qNorm = try loader.vector(p + "attn_q_norm.weight", count: c.headDim)
            kNorm = try loader.vector(p + "attn_k_norm.weight", count: c.headDim)
        } else {
            qNorm = nil
            kNorm = nil
        }
        postAttentionNorm = c.hasPostNorms ? try loader.vector(p + "post_attention_norm.weight", count: c.hiddenSize) : nil
        attentionOutput = .projection(postNorm: postAttentionNorm)
        ffnNorm = try loader.vector(p + "ffn_norm.weight", count: c.hiddenSize)
        if let e = c.experts, let moeLayer {
            experts = try MoEFeedForward(prefix: p, moeLayer: moeLayer, config: c, experts: e, loader: loader, routedExperts: routedExperts)
            gateUp = []
            downOnly = []
        } else {
            experts = nil
            gateUp = [try loader.matrix(p + "ffn_gate.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                      try loader.matrix(p + "ffn_up.weight", rows: c.intermediateSize, columns: c.hiddenSize)]
            downOnly = [try loader.matrix(p + "ffn_down.weight", rows: c.hiddenSize, columns: c.intermediateSize)]
        }
        postFFNNorm = c.hasPostNorms ? try loader.vector(p + "post_ffw_norm.weight", count: c.hiddenSize) : nil
        qkv = [wq, wk, wv]
        fusesQuantization = (qkv + gateUp + downOnly).allSatisfy { $0.isFullyInterleaved }
        attention = c.layerTypes[i]
        let base = attention == .full ? c.ropeBase : c.ropeBaseSliding
        rope = Rope(layout: c.ropeLayout, dimensions: c.ropeDimensions, base: base,
                    linearScalingFactor: attention == .full ? c.ropeLinearScaling : 1, tablePositions: min(c.contextLength, 4096))
        kvGroup = layout.groupOfLayer[i]
    }

    /// Runs the block on `ws.hidden`. The MLP's output is left in `ws.projected`, not yet added to
    /// the residual stream: the next block (`pending`) or the output norm adds it (after its
    /// post-norm, if the block has one) in the same pass as its RMSNorm. With
    /// `fusesQuantization`, the activations of the QKV, gate/up and down products are quantized
    /// in the same per-token pass as the RMSNorm or gated activation that makes them (the same bits).
    func forward(_ ws: Workspace, tokens n: Int, pending: PendingProjection, meta: AttentionMetadata, kv: KVLayerView,
                 config c: ModelConfig, workspace: ForwardWorkspace, routing: ExpertRouter?, pool: ThreadPool) {
        let pass = attend(ws, tokens: n, pending: pending, meta: meta, kv: kv, config: c, workspace: workspace, pool: pool)
        if let experts, let routing {
            expertNorm(ws, tokens: n, pending: pending, meta: meta, kv: kv, config: c, workspace: workspace, pool: pool)
            experts.forward(ws.normed, into: ws.projected, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
            return
        }
        let steps = workspace.tokenSteps
        steps.run(.ffnNorm, of: self, pass, tokens: n, pool: pool)
        multiply(gateUp, ws.normed, pass.blocks, tokens: n, into: ws.gateUpOutputs, workspace: workspace, pool: pool)
        steps.run(.gatedActivation, of: self, pass, tokens: n, pool: pool)
        multiply(downOnly, ws.gate, pass.blocks, tokens: n, into: ws.projectedOutputs, workspace: workspace, pool: pool)
    }

    /// An MoE layer whose experts run on expert workers, in two halves so that another
    /// micro-batch's work runs between them: the attention and the router here, the rows sent to
    /// the ranks (``finishExperts(_:_:tokens:config:workspace:routing:pool:)`` ends the layer).
    func startExperts(_ ws: Workspace, tokens n: Int, pending: PendingProjection, meta: AttentionMetadata, kv: KVLayerView,
                      config c: ModelConfig, workspace: ForwardWorkspace, routing: ExpertRouter, pool: ThreadPool) -> ExpertTicket {
        _ = attend(ws, tokens: n, pending: pending, meta: meta, kv: kv, config: c, workspace: workspace, pool: pool)
        expertNorm(ws, tokens: n, pending: pending, meta: meta, kv: kv, config: c, workspace: workspace, pool: pool)
        return experts!.start(ws.normed, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
    }

    /// The shared expert here, then the ranks' rows summed per token into `ws.projected`.
    func finishExperts(_ ticket: ExpertTicket, _ ws: Workspace, tokens n: Int, config c: ModelConfig, workspace: ForwardWorkspace,
                       routing: ExpertRouter, pool: ThreadPool) {
        experts!.finish(ticket, ws.normed, into: ws.projected, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
    }

    /// The attention half of the block: norm, QKV, rope, attention over the cache, output
    /// projection into `ws.projected`. Returns the pass the MLP half continues.
    private func attend(_ ws: Workspace, tokens n: Int, pending: PendingProjection, meta: AttentionMetadata, kv: KVLayerView,
                        config c: ModelConfig, workspace: ForwardWorkspace, pool: ThreadPool) -> LayerPass {
        let scratch = workspace.scratch, steps = workspace.tokenSteps
        // Room for the widest activations, so the output projection's own quantization (into the
        // same scratch) never moves it.
        let blocks = fusesQuantization ? scratch.activationBlocks(n * max(c.hiddenSize, c.intermediateSize, c.qDim) / 32) : nil
        let pass = LayerPass(ws: ws, meta: meta, kv: kv, config: c, pending: pending, blocks: blocks)
        steps.run(.attentionNorm, of: self, pass, tokens: n, pool: pool)
        multiply(qkv, ws.normed, blocks, tokens: n, into: ws.qkvOutputs, workspace: workspace, pool: pool)
        steps.run(.prepareQKV, of: self, pass, tokens: n, pool: pool)
        workspace.attention.attend(kv, q: ws.q, out: ws.attention, config: c, group: kvGroup, window: attention.window ?? 0,
                                   meta: meta, pool: pool)
        matmul(wo, ws.attention, tokens: n, into: ws.projected, scratch: scratch, pool: pool)
        return pass
    }

    /// The MoE layer's norm, on floats (the router reads them; the experts quantize their own).
    private func expertNorm(_ ws: Workspace, tokens n: Int, pending: PendingProjection, meta: AttentionMetadata, kv: KVLayerView,
                            config c: ModelConfig, workspace: ForwardWorkspace, pool: ThreadPool) {
        let floats = LayerPass(ws: ws, meta: meta, kv: kv, config: c, pending: pending, blocks: nil)
        workspace.tokenSteps.run(.ffnNorm, of: self, floats, tokens: n, pool: pool)
    }

    /// The products of `matrices` over the last step's activations: its 8-bit blocks, or `floats`.
    private func multiply(_ matrices: [WeightMatrix], _ floats: UnsafePointer<Float>, _ blocks: UnsafeMutablePointer<pg_block_q8>?, tokens n: Int,
                          into ys: [UnsafeMutablePointer<Float>], workspace: ForwardWorkspace, pool: ThreadPool) {
        if let blocks {
            matmul(matrices, quantized: blocks, tokens: n, into: ys, scratch: workspace.scratch, pool: pool)
        } else {
            matmul(matrices, floats, tokens: n, into: ys, scratch: workspace.scratch, pool: pool)
        }
    }

    /// One token's share of `step`.
    func run(_ step: TokenStep, token t: Int, _ p: LayerPass) {
        let c = p.config, ws = p.ws, f = c.intermediateSize
        switch step {
        case .attentionNorm:
            norm(attentionNorm, token: t, p, adding: p.pending)
        case .prepareQKV:
            prepareQKV(ws, token: t, p)
        case .ffnNorm:
            norm(ffnNorm, token: t, p, adding: attentionOutput)
        case .gatedActivation:
            switch c.activation {
            case .silu: siluMul(ws.gate + t * f, ws.up + t * f, f)
            case .geluTanh: geluTanhMul(ws.gate + t * f, ws.up + t * f, f)
            }
            if let blocks = p.blocks { pg_quantize_q8(ws.gate + t * f, blocks + t * f / 32, Int64(f)) }
        }
    }

    /// RMSNorm of token `t`'s residual (after adding the pending projection to it, normed first
    /// if it has a post-norm) into `ws.normed`, or straight into 8-bit blocks on the fused path.
    private func norm(_ weight: [Float], token t: Int, _ p: LayerPass, adding pending: PendingProjection) {
        let ws = p.ws, d = p.config.hiddenSize, eps = p.config.rmsNormEps
        let residual = ws.hidden + t * d, projection = ws.projected + t * d
        guard case .projection(let postNorm) = pending else {
            if let blocks = p.blocks {
                rmsNormQuantized(residual, weight: weight, eps: eps, into: blocks + t * d / 32, d)
            } else {
                rmsNorm(residual, weight: weight, eps: eps, into: ws.normed + t * d, d)
            }
            return
        }
        if let postNorm { rmsNorm(projection, weight: postNorm, eps: eps, into: projection, d) }
        if let blocks = p.blocks {
            addRMSNormQuantized(projection, into: residual, weight: weight, eps: eps, into: blocks + t * d / 32, d)
        } else {
            addRMSNorm(projection, into: residual, weight: weight, eps: eps, out: ws.normed + t * d, d)
        }
    }

    /// Bias, Q/K norm and RoPE for one token, then its K/V into its slot of the cache.
    private func prepareQKV(_ ws: Workspace, token t: Int, _ p: LayerPass) {
        let c = p.config, kv = p.kv
        let q = ws.q + t * c.qDim, k = ws.k + t * c.kvDim, v = ws.v + t * c.kvDim
        if let qBias { add(qBias, into: q, c.qDim) }
        if let kBias { add(kBias, into: k, c.kvDim) }
        if let vBias { add(vBias, into: v, c.kvDim) }
        if let qNorm, let kNorm {
            for h in 0..<c.numHeads { rmsNorm(q + h * c.headDim, weight: qNorm, eps: c.rmsNormEps, into: q + h * c.headDim, c.headDim) }
            for h in 0..<c.numKVHeads { rmsNorm(k + h * c.headDim, weight: kNorm, eps: c.rmsNormEps, into: k + h * c.headDim, c.headDim) }
        }
        let position = Int(p.meta.positions[t])
        rope.apply(q, heads: c.numHeads, headDim: c.headDim, position: position)
        rope.apply(k, heads: c.numKVHeads, headDim: c.headDim, position: position)
        let block = Int(p.meta.blockTable(ofToken: t, group: kvGroup)[position / kv.blockSize])
        kv.store(slot: block * kv.blockSize + position % kv.blockSize, key: k, value: v)
    }
}

/// What a block adds to its residual stream before its first norm.
enum PendingProjection {
    /// Nothing (the first block).
    case none
    /// `ws.projected`, after an RMSNorm with `postNorm` if it is set.
    case projection(postNorm: [Float]?)
}
