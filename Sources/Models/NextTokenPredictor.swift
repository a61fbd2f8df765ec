import Kernels

/// A multi-token-prediction ("nextn") layer of a GLM-4.5 / DeepSeek-V3 style GGUF: given the token
/// t that follows position p and a hidden state at p (the target model's final hidden state, or
/// this predictor's own previous output when it runs recursively), it predicts the token after t.
///
/// For each row: x = eh_proj([enorm(embed(t)); hnorm(h)]), then one decoder block at position p
/// over the predictor's own one-layer KV cache, then `shared_head_norm` and the head. Only the
/// first nextn layer of the file is used (DeepSeek and FastMTP run it recursively for every draft
/// token); its embedding, final norm and head fall back to the main model's when the layer has none.
public final class NextTokenPredictor: @unchecked Sendable {
    /// The configuration its block runs under (the main model's, but for its layer types).
    public let config: ModelConfig
    /// One full-attention layer.
    public let kvCacheLayout: KVCacheLayout
    /// The index of its block (`blk.L.`) in the file.
    public let layerIndex: Int
    public let pool: ThreadPool
    /// Routing counts of its block when it is a mixture of experts (one layer).
    public let expertRouter: ExpertRouter?
    private let embedding: WeightMatrix
    private let embeddingNorm: [Float]
    private let hiddenNorm: [Float]
    private let projection: WeightMatrix
    private let layer: DecoderLayer
    private let head: OutputHead

    /// Binds `blk.<layer>.`'s block and nextn tensors; `embedding` and `head` are the main model's,
    /// used where the layer has no `nextn.embed_tokens`, `nextn.shared_head_norm` or `nextn.shared_head_head`.
    init(layer l: Int, config main: ModelConfig, loader: WeightLoader, embedding: WeightMatrix, head: OutputHead,
         pool: ThreadPool) throws(ModelError) {
        let d = main.hiddenSize, p = "blk.\(l).nextn."
        var c = main
        // The block reads its attention type and KV group at its own index: full attention in
        // group 0, the one layer of the predictor's cache.
        c.layerTypes = Array(repeating: .full, count: l + 1)
        config = c
        layerIndex = l
        self.pool = pool
        kvCacheLayout = KVCacheLayout(layerTypes: [.full])
        self.embedding = try loader.optionalMatrix(p + "embed_tokens.weight", rows: c.vocabSize, columns: d) ?? embedding
        embeddingNorm = try loader.vector(p + "enorm.weight", count: d)
        hiddenNorm = try loader.vector(p + "hnorm.weight", count: d)
        projection = try loader.matrix(p + "eh_proj.weight", rows: d, columns: 2 * d)
        layer = try DecoderLayer(index: l, config: c, layout: KVCacheLayout(layerTypes: c.layerTypes), loader: loader,
                                 moeLayer: c.experts == nil ? nil : 0)
        expertRouter = c.experts.map { ExpertRouter(numLayers: 1, numExperts: $0.numExperts) }
        self.head = OutputHead(norm: try loader.optionalVector(p + "shared_head_norm.weight", count: d) ?? head.norm,
                               matrix: try loader.optionalMatrix(p + "shared_head_head.weight", rows: c.vocabSize, columns: d) ?? head.matrix)
    }

    /// A KV cache for the predictor's one layer.
    public func makeKVCache(numBlocks: Int, blockSize: Int = 16, precision: KVPrecision = .float16) -> KVCache {
        KVCache(numBlocks: numBlocks, blockSize: blockSize, layout: kvCacheLayout, kvHeads: config.numKVHeads,
                headDim: config.headDim, precision: precision)
    }

    /// Runs the predictor over `batch`: row i's token is the one that follows position
    /// `batch.positions[i]`, and `hidden + i·hiddenSize` the hidden state at that position. Each
    /// row's K/V goes into layer 0 of `cache` at its position.
    ///
    /// - Returns: the logits of the rows in `batch.logitIndices` (`vocabSize` each), and every
    ///   row's final hidden state after the head's norm (`count × hiddenSize`, also
    ///   ``ForwardWorkspace/lastHiddenStates``), to feed back in for the next draft token. Both
    ///   live in `workspace` (not the target's) until its next use; `hidden` may point into them.
    public func forward(_ batch: ForwardBatch, hidden: UnsafePointer<Float>, cache: KVCache,
                        workspace: ForwardWorkspace) -> (logits: UnsafeBufferPointer<Float>, hidden: UnsafeBufferPointer<Float>) {
        let n = batch.count, d = config.hiddenSize, eps = config.rmsNormEps
        precondition(n > 0, "empty batch")
        precondition(batch.numGroups == 1, "the predictor has one KV cache group, the batch \(batch.numGroups) block tables per sequence")
        workspace.buffers.reserve(tokens: n, logits: batch.logitIndices.count, config: config, hiddenStates: true, predictorInputs: true)
        let ws = workspace.buffers
        for (i, id) in batch.tokenIDs.enumerated() {
            precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) out of range")
            let row = ws.predictorInputs + i * 2 * d
            embedding.dequantizeRow(Int(id), into: row)
            if config.embeddingScale != 1 { scale(row, by: config.embeddingScale, d) }
            rmsNorm(row, weight: embeddingNorm, eps: eps, into: row, d)
            rmsNorm(hidden + i * d, weight: hiddenNorm, eps: eps, into: row + d, d)
        }
        matmul(projection, ws.predictorInputs, tokens: n, into: ws.hidden, scratch: workspace.scratch, pool: pool)
        batch.positions.withUnsafeBufferPointer { positions in
            batch.sequenceIndex.withUnsafeBufferPointer { seqs in
                batch.blockTables.withUnsafeBufferPointer { tables in
                    let meta = AttentionMetadata(positions: positions, sequences: seqs, blockTables: tables,
                                                 stride: batch.blockTableStride, groups: 1)
                    workspace.attention.build(meta, tokens: n, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
                    layer.forward(ws, tokens: n, pending: .none, meta: meta, kv: cache.layer(0), config: config,
                                  workspace: workspace, routing: expertRouter, pool: pool)
                }
            }
        }
        head.logits(batch, lastPostNorm: layer.postFFNNorm, keepsHiddenStates: true, config: config, workspace: workspace, pool: pool)
        return (UnsafeBufferPointer(start: ws.logits, count: batch.logitIndices.count * config.vocabSize),
                UnsafeBufferPointer(start: ws.hiddenStates, count: n * d))
    }
}
