import GGUF
import Kernels

/// A decoder-only transformer over a paged KV cache: token embeddings, a stack of
/// ``DecoderLayer``s configured by the architecture's ``ModelConfig``, a final RMSNorm and the
/// output head (tied to the embeddings when the file has no `output.weight`). A file with nextn
/// layers also gives a ``NextTokenPredictor`` over the first of them, and each forward pass then
/// keeps every token's final hidden state (``ForwardWorkspace/lastHiddenStates``) for it.
public final class DecoderModel: CausalLM, @unchecked Sendable {
    public let config: ModelConfig
    public let pool: ThreadPool
    public let kvCacheLayout: KVCacheLayout
    private let file: GGUFFile
    private let embedding: WeightMatrix
    private let layers: [DecoderLayer]
    private let head: OutputHead
    public let expertRouter: ExpertRouter?
    public let nextTokenPredictor: NextTokenPredictor?

    /// Binds the weights of `file` for `config`. Throws a ``ModelError`` for a missing tensor or
    /// a tensor of the wrong shape.
    /// - Parameter routedExperts: bind the MoE layers' routed experts; false for the front of an
    ///   expert-parallel model, which runs them through its router's ``ExpertRouter/dispatcher``.
    public init(file: GGUFFile, config: ModelConfig, pool: ThreadPool, routedExperts: Bool = true) throws(ModelError) {
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
            try DecoderLayer(index: i, config: config, layout: layout, loader: loader, moeLayer: config.experts == nil ? nil : i,
                             routedExperts: routedExperts)
        }
        expertRouter = config.experts.map { ExpertRouter(numLayers: config.numLayers, numExperts: $0.numExperts) }
        head = OutputHead(norm: try loader.vector("output_norm.weight", count: config.hiddenSize),
                          matrix: try loader.optionalMatrix("output.weight", rows: config.vocabSize, columns: config.hiddenSize) ?? embedding)
        nextTokenPredictor = config.nextnLayers == 0 ? nil
            : try NextTokenPredictor(layer: config.numLayers, config: config, loader: loader, embedding: embedding, head: head, pool: pool)
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache, workspace: ForwardWorkspace) -> UnsafeBufferPointer<Float> {
        let n = batch.count
        precondition(n > 0, "empty batch")
        precondition(batch.numGroups == kvCacheLayout.numGroups, "the batch has \(batch.numGroups) block tables per sequence, the model \(kvCacheLayout.numGroups) KV cache groups")
        if let router = expertRouter, router.dispatcher != nil, router.overlapsMicroBatches, nextTokenPredictor == nil,
           layers.allSatisfy({ $0.experts != nil }), workspace.microBatches.split(batch) {
            return forwardOverlapped(workspace.microBatches, cache: cache, workspace: workspace, router: router)
        }
        workspace.buffers.reserve(tokens: n, logits: batch.logitIndices.count, config: config,
                                  hiddenStates: nextTokenPredictor != nil)
        let ws = workspace.buffers
        embed(batch, into: ws)
        withMetadata(batch) { meta in
            workspace.attention.build(meta, tokens: n, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
            let hooks = workspace.layerHooks
            for (l, layer) in layers.enumerated() {
                let pending = l == 0 ? PendingProjection.none : .projection(postNorm: layers[l - 1].postFFNNorm)
                hooks?.willCompute(layer: l)
                layer.forward(ws, tokens: n, pending: pending, meta: meta, kv: cache.layer(l), config: config,
                              workspace: workspace, routing: expertRouter, pool: pool)
                hooks?.didCompute(layer: l)
            }
        }
        head.logits(batch, lastPostNorm: layers.last?.postFFNNorm, keepsHiddenStates: nextTokenPredictor != nil, config: config,
                    workspace: workspace, pool: pool)
        return UnsafeBufferPointer(start: ws.logits, count: batch.logitIndices.count * config.vocabSize)
    }

    private func embed(_ batch: ForwardBatch, into ws: Workspace) {
        let d = config.hiddenSize
        for (i, id) in batch.tokenIDs.enumerated() {
            precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) out of range")
            embedding.dequantizeRow(Int(id), into: ws.hidden + i * d)
            if config.embeddingScale != 1 { scale(ws.hidden + i * d, by: config.embeddingScale, d) }
        }
    }

    /// The two-batch overlap of an expert-parallel model: micro-batch A's experts compute on the
    /// ranks while B's attention runs here, and B's while A's next layer's attention does. Each
    /// micro-batch has its own workspace; every token sees exactly what it would in one batch.
    private func forwardOverlapped(_ split: MicroBatches, cache: KVCache, workspace: ForwardWorkspace, router: ExpertRouter) -> UnsafeBufferPointer<Float> {
        let a = split.first, b = split.second, wa = workspace, wb = split.workspace
        let ma = a.logitIndices.count, mb = b.logitIndices.count, vocab = config.vocabSize
        wa.buffers.reserve(tokens: a.count, logits: ma + mb, config: config)
        wb.buffers.reserve(tokens: b.count, logits: mb, config: config)
        embed(a, into: wa.buffers)
        embed(b, into: wb.buffers)
        withMetadata(a) { metaA in
            withMetadata(b) { metaB in
                wa.attention.build(metaA, tokens: a.count, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
                wb.attention.build(metaB, tokens: b.count, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
                let hooks = wa.layerHooks
                func start(_ l: Int, _ batch: ForwardBatch, _ meta: AttentionMetadata, _ w: ForwardWorkspace) -> ExpertTicket {
                    let pending = l == 0 ? PendingProjection.none : .projection(postNorm: layers[l - 1].postFFNNorm)
                    return layers[l].startExperts(w.buffers, tokens: batch.count, pending: pending, meta: meta, kv: cache.layer(l), config: config,
                                                  workspace: w, routing: router, pool: pool)
                }
                hooks?.willCompute(layer: 0)
                var ticketA = start(0, a, metaA, wa)
                for l in layers.indices {
                    let ticketB = start(l, b, metaB, wb)
                    hooks?.didCompute(layer: l)
                    layers[l].finishExperts(ticketA, wa.buffers, tokens: a.count, config: config, workspace: wa, routing: router, pool: pool)
                    if l + 1 < layers.count {
                        hooks?.willCompute(layer: l + 1)
                        ticketA = start(l + 1, a, metaA, wa)
                    }
                    layers[l].finishExperts(ticketB, wb.buffers, tokens: b.count, config: config, workspace: wb, routing: router, pool: pool)
                }
            }
        }
        if ma > 0 { head.logits(a, lastPostNorm: layers.last?.postFFNNorm, keepsHiddenStates: false, config: config, workspace: wa, pool: pool) }
        if mb > 0 {
            head.logits(b, lastPostNorm: layers.last?.postFFNNorm, keepsHiddenStates: false, config: config, workspace: wb, pool: pool)
            (wa.buffers.logits + ma * vocab).update(from: wb.buffers.logits, count: mb * vocab)
        }
        return UnsafeBufferPointer(start: wa.buffers.logits, count: (ma + mb) * vocab)
    }

    private func withMetadata<T>(_ batch: ForwardBatch, _ body: (AttentionMetadata) -> T) -> T {
        batch.positions.withUnsafeBufferPointer { positions in
            batch.sequenceIndex.withUnsafeBufferPointer { seqs in
                batch.blockTables.withUnsafeBufferPointer { tables in
                    body(AttentionMetadata(positions: positions, sequences: seqs, blockTables: tables, stride: batch.blockTableStride,
                                           groups: batch.numGroups))
                }
            }
        }
    }
}

/// Per-token attention inputs, borrowed from a ``ForwardBatch`` for one forward pass.
struct AttentionMetadata {
    let positions: UnsafeBufferPointer<Int32>
    let sequences: UnsafeBufferPointer<Int32>
    let blockTables: UnsafeBufferPointer<Int32>
    let stride: Int
    let groups: Int
    /// Whether some sequence has consecutive tokens here (a prompt chunk, a verification step's
    /// drafts), not one token each (batched decode): found once per pass.
    let hasSequenceRuns: Bool

    init(positions: UnsafeBufferPointer<Int32>, sequences: UnsafeBufferPointer<Int32>, blockTables: UnsafeBufferPointer<Int32>,
         stride: Int, groups: Int) {
        self.positions = positions
        self.sequences = sequences
        self.blockTables = blockTables
        self.stride = stride
        self.groups = groups
        hasSequenceRuns = sequences.indices.dropFirst().contains { sequences[$0] == sequences[$0 - 1] }
    }

    /// The block table, in KV cache group `group`, of token `t`'s sequence.
    func blockTable(ofToken t: Int, group: Int) -> UnsafePointer<Int32> {
        blockTables.baseAddress! + (Int(sequences[t]) * groups + group) * stride
    }
}
