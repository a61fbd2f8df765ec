import CKernels
import Kernels

/// One decoder block's weights and its forward pass.
struct LlamaLayer {
    let attentionNorm: [Float]
    let wq, wk, wv, wo: WeightMatrix
    let qBias, kBias, vBias: [Float]?
    let qNorm, kNorm: [Float]?
    let ffnNorm: [Float]
    let gate, up, down: WeightMatrix
    /// Q, K, V and gate, up: matrices that read the same input, multiplied in one parallel region.
    let qkv, gateUp, downOnly: [WeightMatrix]
    /// Whether the QKV, gate/up and down products take activations quantized in the pass that
    /// makes them (RMSNorm or SwiGLU fused with the quantization): every row interleaved.
    let fusesQuantization: Bool

    init(index i: Int, config c: ModelConfig, loader: WeightLoader) throws(ModelError) {
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
        ffnNorm = try loader.vector(p + "ffn_norm.weight", count: c.hiddenSize)
        gate = try loader.matrix(p + "ffn_gate.weight", rows: c.intermediateSize, columns: c.hiddenSize)
        up = try loader.matrix(p + "ffn_up.weight", rows: c.intermediateSize, columns: c.hiddenSize)
        down = try loader.matrix(p + "ffn_down.weight", rows: c.hiddenSize, columns: c.intermediateSize)
        qkv = [wq, wk, wv]
        gateUp = [gate, up]
        downOnly = [down]
        fusesQuantization = (qkv + gateUp + downOnly).allSatisfy { $0.isFullyInterleaved }
    }

    /// Runs the block on `ws.hidden`. The MLP's output is left in `ws.projected`, not yet added to
    /// the residual stream: the next block (`residualPending`) or the output norm adds it in the
    /// same pass as its RMSNorm.
    func forward(_ ws: Workspace, tokens n: Int, residualPending: Bool, meta: AttentionMetadata, attention: AttentionPlan,
                 kv: KVLayerView, rope: Rope, config c: ModelConfig, scratch: MatMulScratch, pool: ThreadPool) {
        if fusesQuantization {
            forwardFused(ws, tokens: n, residualPending: residualPending, meta: meta, attention: attention, kv: kv, rope: rope,
                         config: c, scratch: scratch, pool: pool)
            return
        }
        let d = c.hiddenSize, f = c.intermediateSize
        forEachToken(n, pool) { t in
            if residualPending {
                addRMSNorm(ws.projected + t * d, into: ws.hidden + t * d, weight: attentionNorm, eps: c.rmsNormEps, out: ws.normed + t * d, d)
            } else {
                rmsNorm(ws.hidden + t * d, weight: attentionNorm, eps: c.rmsNormEps, into: ws.normed + t * d, d)
            }
        }
        matmul(qkv, ws.normed, tokens: n, into: ws.qkvOutputs, scratch: scratch, pool: pool)
        attend(ws, tokens: n, meta: meta, attention: attention, kv: kv, rope: rope, config: c, scratch: scratch, pool: pool)
        forEachToken(n, pool) { t in
            addRMSNorm(ws.projected + t * d, into: ws.hidden + t * d, weight: ffnNorm, eps: c.rmsNormEps, out: ws.normed + t * d, d)
        }
        matmul(gateUp, ws.normed, tokens: n, into: ws.gateUpOutputs, scratch: scratch, pool: pool)
        forEachToken(n, pool) { t in siluMul(ws.gate + t * f, ws.up + t * f, f) }
        matmul(down, ws.gate, tokens: n, into: ws.projected, scratch: scratch, pool: pool)
    }

    /// `forward` with the activations of the QKV, gate/up and down products quantized in the
    /// same per-token pass as the RMSNorm or SwiGLU that makes them (the same bits).
    private func forwardFused(_ ws: Workspace, tokens n: Int, residualPending: Bool, meta: AttentionMetadata, attention: AttentionPlan,
                              kv: KVLayerView, rope: Rope, config c: ModelConfig, scratch: MatMulScratch, pool: ThreadPool) {
        let d = c.hiddenSize, f = c.intermediateSize
        let q8 = scratch.activationBlocks(n * max(d, f) / 32)
        forEachToken(n, pool) { t in
            if residualPending {
                addRMSNormQuantized(ws.projected + t * d, into: ws.hidden + t * d, weight: attentionNorm, eps: c.rmsNormEps,
                                    into: q8 + t * d / 32, d)
            } else {
                rmsNormQuantized(ws.hidden + t * d, weight: attentionNorm, eps: c.rmsNormEps, into: q8 + t * d / 32, d)
            }
        }
        matmul(qkv, quantized: q8, tokens: n, into: ws.qkvOutputs, pool: pool)
        attend(ws, tokens: n, meta: meta, attention: attention, kv: kv, rope: rope, config: c, scratch: scratch, pool: pool)
        let mlp = scratch.activationBlocks(n * max(d, f) / 32)  // the output projection may have grown it
        forEachToken(n, pool) { t in
            addRMSNormQuantized(ws.projected + t * d, into: ws.hidden + t * d, weight: ffnNorm, eps: c.rmsNormEps, into: mlp + t * d / 32, d)
        }
        matmul(gateUp, quantized: mlp, tokens: n, into: ws.gateUpOutputs, pool: pool)
        forEachToken(n, pool) { t in
            siluMul(ws.gate + t * f, ws.up + t * f, f)
            pg_quantize_q8(ws.gate + t * f, mlp + t * f / 32, Int64(f))
        }
        matmul(downOnly, quantized: mlp, tokens: n, into: ws.projectedOutputs, pool: pool)
    }

    /// Q/K/V preparation, attention over the cache, and the output projection into `ws.projected`.
    private func attend(_ ws: Workspace, tokens n: Int, meta: AttentionMetadata, attention: AttentionPlan, kv: KVLayerView, rope: Rope,
                        config c: ModelConfig, scratch: MatMulScratch, pool: ThreadPool) {
        forEachToken(n, pool) { t in
            prepareQKV(ws, token: t, position: Int(meta.positions[t]), slot: Int(meta.slots[t]), kv: kv, rope: rope, config: c)
        }
        attention.run(kv, q: ws.q, out: ws.attention, config: c, meta: meta, pool: pool)
        matmul(wo, ws.attention, tokens: n, into: ws.projected, scratch: scratch, pool: pool)
    }

    /// Bias, Q/K norm and RoPE for one token, then its K/V into the cache.
    private func prepareQKV(_ ws: Workspace, token t: Int, position: Int, slot: Int, kv: KVLayerView, rope: Rope, config c: ModelConfig) {
        let q = ws.q + t * c.qDim, k = ws.k + t * c.kvDim, v = ws.v + t * c.kvDim
        if let qBias { add(qBias, into: q, c.qDim) }
        if let kBias { add(kBias, into: k, c.kvDim) }
        if let vBias { add(vBias, into: v, c.kvDim) }
        if let qNorm, let kNorm {
            for h in 0..<c.numHeads { rmsNorm(q + h * c.headDim, weight: qNorm, eps: c.rmsNormEps, into: q + h * c.headDim, c.headDim) }
            for h in 0..<c.numKVHeads { rmsNorm(k + h * c.headDim, weight: kNorm, eps: c.rmsNormEps, into: k + h * c.headDim, c.headDim) }
        }
        rope.apply(q, heads: c.numHeads, headDim: c.headDim, position: position)
        rope.apply(k, heads: c.numKVHeads, headDim: c.headDim, position: position)
        kv.store(slot: slot, key: k, value: v)
    }
}

/// Runs `body` per token: inline for a few tokens, spread over the pool for many.
@inline(__always)
func forEachToken(_ n: Int, _ pool: ThreadPool, _ body: (Int) -> Void) {
    if n < 4 {
        for t in 0..<n { body(t) }
    } else {
        pool.parallelRanges(n) { range in for t in range { body(t) } }
    }
}
