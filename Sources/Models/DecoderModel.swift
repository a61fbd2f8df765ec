import GGUF
import Kernels

/// The Llama family's decoder (llama, mistral, qwen2, qwen3): RMSNorm, RoPE, grouped-query
/// attention over a paged KV cache, SwiGLU MLP, tied or separate output head.
public final class LlamaModel: @unchecked Sendable {
    public let config: ModelConfig
    public let pool: ThreadPool
    private let file: GGUFFile
    private let embedding: WeightMatrix
    private let layers: [LlamaLayer]
    private let outputNorm: [Float]
    private let output: WeightMatrix
    private let rope: Rope

    /// Binds the weights of `file`. Throws a ``ModelError`` for an unknown architecture,
    /// a missing key or tensor, or a tensor of the wrong shape.
    public init(file: GGUFFile, pool: ThreadPool) throws(ModelError) {
        var config = try ModelConfig(metadata: file.metadata)
        let loader = WeightLoader(file: file)
        guard let embedInfo = file.tensorInfo("token_embd.weight") else { throw .missingTensor("token_embd.weight") }
        guard embedInfo.shape.count == 2, embedInfo.shape[0] == config.hiddenSize else {
            throw .tensorShape(name: "token_embd.weight", expected: [config.hiddenSize, config.vocabSize], found: embedInfo.shape)
        }
        if config.vocabSize == 0 { config.vocabSize = embedInfo.shape[1] }
        self.config = config
        self.file = file
        self.pool = pool
        embedding = try loader.matrix("token_embd.weight", rows: config.vocabSize, columns: config.hiddenSize)
        layers = try (0..<config.numLayers).map { i throws(ModelError) in try LlamaLayer(index: i, config: config, loader: loader) }
        outputNorm = try loader.vector("output_norm.weight", count: config.hiddenSize)
        output = try loader.optionalMatrix("output.weight", rows: config.vocabSize, columns: config.hiddenSize) ?? embedding
        rope = Rope(layout: config.ropeLayout, dimensions: config.ropeDimensions, base: config.ropeBase,
                    linearScalingFactor: config.ropeLinearScaling)
    }

    /// A KV cache shaped for this model (half-precision values by default, as llama.cpp keeps them).
    public func makeKVCache(numBlocks: Int, blockSize: Int = 16, precision: KVPrecision = .float16) -> KVCache {
        KVCache(numBlocks: numBlocks, blockSize: blockSize, numLayers: config.numLayers,
                kvHeads: config.numKVHeads, headDim: config.headDim, precision: precision)
    }

    /// Runs the batch through the model, writing each token's K/V into `cache`, and returns the
    /// logits of the tokens in `batch.logitIndices` (row-major, `vocabSize` each). The buffer
    /// lives in `workspace` and is valid until its next use.
    public func forward(_ batch: ForwardBatch, cache: KVCache, workspace: ForwardWorkspace) -> UnsafeBufferPointer<Float> {
        let n = batch.count
        precondition(n > 0, "empty batch")
        workspace.buffers.reserve(tokens: n, logits: batch.logitIndices.count, config: config)
        let ws = workspace.buffers
        let scratch = workspace.scratch
        let d = config.hiddenSize
        for (i, id) in batch.tokenIDs.enumerated() {
            precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) out of range")
            embedding.dequantizeRow(Int(id), into: ws.hidden + i * d)
        }
        batch.positions.withUnsafeBufferPointer { positions in
            batch.slotMapping.withUnsafeBufferPointer { slots in
                batch.sequenceIndex.withUnsafeBufferPointer { seqs in
                    batch.blockTables.withUnsafeBufferPointer { tables in
                        let meta = AttentionMetadata(positions: positions, slots: slots, sequences: seqs,
                                                     blockTables: tables, stride: batch.blockTableStride)
                        workspace.attention.build(meta, tokens: n, blockSize: cache.blockSize, config: config, threads: pool.threadCount)
                        for (l, layer) in layers.enumerated() {
                            layer.forward(ws, tokens: n, residualPending: l > 0, meta: meta, kv: cache.layer(l), rope: rope, config: config,
                                          workspace: workspace, pool: pool)
                        }
                    }
                }
            }
        }
        let m = batch.logitIndices.count
        // Only the rows that give logits need the last block's output added to their residual.
        for (j, t) in batch.logitIndices.enumerated() {
            addRMSNorm(ws.projected + Int(t) * d, into: ws.hidden + Int(t) * d, weight: outputNorm, eps: config.rmsNormEps,
                       out: ws.normed + j * d, d)
        }
        matmul(output, ws.normed, tokens: m, into: ws.logits, scratch: scratch, pool: pool)
        return UnsafeBufferPointer(start: ws.logits, count: m * config.vocabSize)
    }
}

/// Per-token attention inputs, borrowed from a ``ForwardBatch`` for one forward pass.
struct AttentionMetadata {
    let positions: UnsafeBufferPointer<Int32>
    let slots: UnsafeBufferPointer<Int32>
    let sequences: UnsafeBufferPointer<Int32>
    let blockTables: UnsafeBufferPointer<Int32>
    let stride: Int

    func blockTable(ofToken t: Int) -> UnsafePointer<Int32> {
        blockTables.baseAddress! + Int(sequences[t]) * stride
    }
}
