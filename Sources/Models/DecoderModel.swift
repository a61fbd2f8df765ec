import GGUF
import Kernels

/// A decoder-only transformer over a paged KV cache: token embeddings, a stack of
/// ``DecoderLayer``s configured by the architecture's ``ModelConfig``, a final RMSNorm and the
/// output head (tied to the embeddings when the file has no `output.weight`).
public final class DecoderModel: CausalLM, @unchecked Sendable {
    public let config: ModelConfig
    public let pool: ThreadPool
    public let kvCacheLayout: KVCacheLayout
    private let file: GGUFFile
    private let embedding: WeightMatrix
    private let layers: [DecoderLayer]
    private let outputNorm: [Float]
    private let output: WeightMatrix
    public let expertRouter: ExpertRouter?

    /// Binds the weights of `file` for `config`. Throws a ``ModelError`` for a missing tensor or
    /// a tensor of the wrong shape.
    public init(file: GGUFFile, config: ModelConfig, pool: ThreadPool) throws(ModelError) {
        var config = config
        let loader = WeightLoader(file: file)
        guard let embedInfo = file.tensorInfo("token_embd.weight") else { throw .missingTensor("token_embd.weight") }
        guard embedInfo.shape.count == 2, embedInfo.shape[0] == config.hiddenSize else {
            throw .tensorShape(name: "token_embd.weight", expected: [config.hiddenSize, config.vocabSize], found: embedInfo.shape)
        }
        if config.vocabSize == 0 { config.vocabSize = embedInfo.shape[1] }
        let layout = config.kvCacheLayout
        self.config = config
        self.file = file
        self.pool = pool
        kvCacheLayout = layout
        embedding = try loader.matrix("token_embd.weight", rows: config.vocabSize, columns: config.hiddenSize)
        layers = try (0..<config.numLayers).map { i throws(ModelError) in
            try DecoderLayer(index: i, config: config, layout: layout, loader: loader, moeLayer: config.experts == nil ? nil : i)
        }
        expertRouter = config.experts.map { ExpertRouter(numLayers: config.numLayers, numExperts: $0.numExperts) }
        outputNorm = try loader.vector("output_norm.weight", count: config.hiddenSize)
        output = try loader.optionalMatrix("output.weight", rows: config.vocabSize, columns: config.hiddenSize) ?? embedding
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, workspace: ForwardWorkspace) -> UnsafeBufferPointer<Float> {
        let n = batch.count
        precondition(n > 0, "empty batch")
        precondition(batch.numGroups == kvCacheLayout.numGroups, "the batch has \(batch.numGroups) block tables per sequence, the model \(kvCacheLayout.numGroups) KV cache groups")
        workspace.buffers.reserve(tokens: n, logits: batch.logitIndices.count, config: config)
        let ws = workspace.buffers
        let d = config.hiddenSize
        for (i, id) in batch.tokenIDs.enumerated() {
            precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) out of range")
            embedding.dequantizeRow(Int(id), into: ws.hidden + i * d)
            if config.embeddingScale != 1 { scale(ws.hidden + i * d, by: config.embeddingScale, d) }
        }
        batch.positions.withUnsafeBufferPointer { positions in
            batch.sequenceIndex.withUnsafeBufferPointer { seqs in
                batch.blockTables.withUnsafeBufferPointer { tables in
                    let meta = AttentionMetadata(positions: positions, sequences: seqs, blockTables: tables,
                                                 stride: batch.blockTableStride, groups: batch.numGroups)
                    workspace.attention.build(meta, tokens: n, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
                    for (l, layer) in layers.enumerated() {
                        let pending = l == 0 ? PendingProjection.none : .projection(postNorm: layers[l - 1].postFFNNorm)
                        layer.forward(ws, tokens: n, pending: pending, meta: meta, kv: cache.layer(l), config: config,
                                      workspace: workspace, routing: expertRouter, pool: pool)
                    }
                }
            }
        }
        logits(batch, workspace: workspace)
        return UnsafeBufferPointer(start: ws.logits, count: batch.logitIndices.count * config.vocabSize)
    }

    /// The output head over the rows that give logits: only those need the last block's output
    /// added to their residual (after its post-norm, if any).
    private func logits(_ batch: ForwardBatch, workspace: ForwardWorkspace) {
        let ws = workspace.buffers, d = config.hiddenSize, eps = config.rmsNormEps
        let lastPostNorm = layers.last?.postFFNNorm
        for (j, t) in batch.logitIndices.enumerated() {
            let projection = ws.projected + Int(t) * d
            if let lastPostNorm { rmsNorm(projection, weight: lastPostNorm, eps: eps, into: projection, d) }
            addRMSNorm(projection, into: ws.hidden + Int(t) * d, weight: outputNorm, eps: eps, out: ws.normed + j * d, d)
        }
        let m = batch.logitIndices.count
        matmul(output, ws.normed, tokens: m, into: ws.logits, scratch: workspace.scratch, pool: pool)
        if let cap = config.finalLogitSoftcap { softcap(ws.logits, cap: cap, m * config.vocabSize) }
    }
}

/// Per-token attention inputs, borrowed from a ``ForwardBatch`` for one forward pass.
struct AttentionMetadata {
    let positions: UnsafeBufferPointer<Int32>
    let sequences: UnsafeBufferPointer<Int32>
    let blockTables: UnsafeBufferPointer<Int32>
    let stride: Int
    let groups: Int

    /// The block table, in KV cache group `group`, of token `t`'s sequence.
    func blockTable(ofToken t: Int, group: Int) -> UnsafePointer<Int32> {
        blockTables.baseAddress! + (Int(sequences[t]) * groups + group) * stride
    }
}
