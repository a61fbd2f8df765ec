import Foundation
import GGUF
import Kernels
import Models
import TestSupport
import Testing

/// Multi-token-prediction ("nextn") layers: the main model is untouched by them, exposes its final
/// hidden states, and the predictor computes DeepSeek-V3's MTP block, checked against a plain
/// Swift reference over the file's own weights.
@Suite struct NextTokenPredictorTests {
    static let pool = ThreadPool(threadCount: 2)

    static let variants: [(String, TinyModel)] = [
        ("llama, tied: shared embedding and head", TinyModel(architecture: "llama", seed: 21)),
        ("qwen2, untied: own embedding and head", TinyModel(architecture: "qwen2", tiedEmbeddings: false, seed: 22)),
        ("qwen3", TinyModel(architecture: "qwen3", hidden: 48, heads: 4, kvHeads: 1, headDim: 16, seed: 23)),
    ]

    static func spec(_ name: String) throws -> TinyModel { try #require(variants.first { $0.0 == name }?.1) }

    /// The model and its file (the weights are mapped from it, so it lives as long as the test).
    static func load(_ spec: TinyModel) throws -> (any CausalLM, GGUFFile) {
        let file = try GGUFFile(bytes: spec.write())
        return (try ModelArchitectures.load(file: file, pool: pool), file)
    }

    /// One sequence through the model in one batch, each token wanting logits when `logits` says so.
    static func run(_ model: any CausalLM, tokens: [Int], workspace: ForwardWorkspace,
                    logits: (Int) -> Bool = { _ in true }) -> [Float] {
        let cache = model.makeKVCache(numBlocks: 4, blockSize: 4, precision: .float32)
        var batch = ForwardBatch()
        batch.removeAll(blockTableStride: 4)
        let seq = batch.addSequence(blockTable: [2, 0, 3, 1])
        for (i, t) in tokens.enumerated() { batch.addToken(Int32(t), position: Int32(i), sequence: seq, wantsLogits: logits(i)) }
        return Array(model.forward(batch, cache: cache, workspace: workspace))
    }

    static let tokens = [3, 17, 0, 63, 22, 22, 5, 40, 9]

    @Test(arguments: variants.map(\.0))
    func mainModelIgnoresTheNextNLayer(_ name: String) throws {
        let spec = try Self.spec(name)
        let (plain, f0) = try Self.load(spec)
        let (withMTP, f1) = try Self.load(spec.withNextN())
        defer { withExtendedLifetime((f0, f1)) {} }
        #expect(withMTP.config.numLayers == spec.layers)
        #expect(withMTP.config.nextnLayers == 1)
        #expect(plain.config.nextnLayers == 0)
        #expect(withMTP.kvCacheLayout == plain.kvCacheLayout)
        #expect(plain.nextTokenPredictor == nil)
        let predictor = try #require(withMTP.nextTokenPredictor)
        #expect(predictor.layerIndex == spec.layers)
        #expect(predictor.kvCacheLayout.groups == [KVCacheGroup(attention: .full, layers: [0])])
        let a = Self.run(plain, tokens: Self.tokens, workspace: ForwardWorkspace())
        let b = Self.run(withMTP, tokens: Self.tokens, workspace: ForwardWorkspace())
        #expect(a == b)
        // Only some rows wanting logits: still the same bits.
        let someRows: (Int) -> Bool = { $0 % 3 == 2 }
        #expect(Self.run(plain, tokens: Self.tokens, workspace: ForwardWorkspace(), logits: someRows)
                == Self.run(withMTP, tokens: Self.tokens, workspace: ForwardWorkspace(), logits: someRows))
    }

    @Test func modelsWithoutNextNLayersKeepNoHiddenStates() throws {
        let (model, file) = try Self.load(TinyModel(seed: 24))
        defer { withExtendedLifetime(file) {} }
        let ws = ForwardWorkspace()
        _ = Self.run(model, tokens: Self.tokens, workspace: ws)
        #expect(ws.lastHiddenStates.isEmpty)
    }

    /// Every row's hidden state is what the head reads: logits = head · hidden, and the rows do
    /// not depend on which of them want logits.
    @Test(arguments: variants.map(\.0))
    func hiddenStatesAreWhatTheHeadReads(_ name: String) throws {
        let spec = try Self.spec(name).withNextN()
        let (model, file) = try Self.load(spec)
        defer { withExtendedLifetime(file) {} }
        let d = model.config.hiddenSize, v = model.config.vocabSize, n = Self.tokens.count
        let ws = ForwardWorkspace()
        let logits = Self.run(model, tokens: Self.tokens, workspace: ws)
        let hidden = Array(ws.lastHiddenStates)
        #expect(hidden.count == n * d)
        let head = try Self.matrix(file, spec.tiedEmbeddings ? "token_embd.weight" : "output.weight")
        let expected = Self.multiply(head, hidden, rows: v, columns: d)
        #expect(Self.relativeError(logits, expected) < 1e-4)

        let lastOnly = ForwardWorkspace()
        let last = Self.run(model, tokens: Self.tokens, workspace: lastOnly) { $0 == n - 1 }
        #expect(Array(lastOnly.lastHiddenStates) == hidden)
        #expect(last == Array(logits[((n - 1) * v)...]))
    }

    /// The predictor over positions 0..3 (tokens 1..4 of a five-token sequence, the target's
    /// hidden states at 0..3) against the reference, and fed its own hidden states back in.
    @Test(arguments: variants.map(\.0))
    func predictorMatchesReference(_ name: String) throws {
        let spec = try Self.spec(name).withNextN()
        let (model, file) = try Self.load(spec)
        defer { withExtendedLifetime(file) {} }
        let predictor = try #require(model.nextTokenPredictor)
        let d = model.config.hiddenSize
        let sequence = [7, 30, 2, 55, 41]
        let targetWorkspace = ForwardWorkspace()
        _ = Self.run(model, tokens: sequence, workspace: targetWorkspace)
        let hidden = Array(targetWorkspace.lastHiddenStates.prefix(4 * d))
        let reference = try ReferenceMTP(file: file, config: predictor.config, layer: predictor.layerIndex,
                                         tied: spec.tiedEmbeddings)
        let expected = reference.forward(tokens: Array(sequence[1...]), hidden: hidden)

        let cache = predictor.makeKVCache(numBlocks: 2, blockSize: 4, precision: .float32)
        var batch = ForwardBatch()
        batch.removeAll(blockTableStride: 2)
        let seq = batch.addSequence(blockTable: [1, 0])
        for p in 0..<4 { batch.addToken(Int32(sequence[p + 1]), position: Int32(p), sequence: seq, wantsLogits: true) }
        let ws = ForwardWorkspace()
        let (logits, out) = hidden.withUnsafeBufferPointer { predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: ws) }
        #expect(Self.relativeError(Array(logits), expected.logits) < 1e-4, "\(name)")
        #expect(Self.relativeError(Array(out), expected.hidden) < 1e-4)
        #expect(Array(ws.lastHiddenStates) == Array(out))

        // Recursively: its own hidden states in, read from its own workspace.
        let firstHidden = Array(out)
        let cache2 = predictor.makeKVCache(numBlocks: 2, blockSize: 4, precision: .float32)
        let again = predictor.forward(batch, hidden: out.baseAddress!, cache: cache2, workspace: ws)
        let expectedAgain = reference.forward(tokens: Array(sequence[1...]), hidden: firstHidden)
        #expect(Self.relativeError(Array(again.logits), expectedAgain.logits) < 1e-4)
    }

    /// Two sequences in one batch give, bit for bit, what each gives alone.
    @Test func predictorIsBatchInvariant() throws {
        let spec = TinyModel(architecture: "qwen2", tiedEmbeddings: false, seed: 25).withNextN()
        let (model, file) = try Self.load(spec)
        defer { withExtendedLifetime(file) {} }
        let predictor = try #require(model.nextTokenPredictor)
        let d = model.config.hiddenSize, v = model.config.vocabSize
        let sequences = [[4, 9, 13, 21, 8, 60], [50, 1, 33]]
        let hidden = sequences.map { s -> [Float] in
            let ws = ForwardWorkspace()
            _ = Self.run(model, tokens: s, workspace: ws)
            return Array(ws.lastHiddenStates)
        }
        func tokens(_ s: Int) -> [(token: Int32, position: Int32)] {
            (0..<(sequences[s].count - 1)).map { (Int32(sequences[s][$0 + 1]), Int32($0)) }
        }
        let alone = sequences.indices.map { s -> (logits: [Float], hidden: [Float]) in
            let cache = predictor.makeKVCache(numBlocks: 2, blockSize: 4, precision: .float16)
            var batch = ForwardBatch()
            batch.removeAll(blockTableStride: 2)
            let seq = batch.addSequence(blockTable: [1, 0])
            for (t, p) in tokens(s) { batch.addToken(t, position: p, sequence: seq, wantsLogits: true) }
            let out = hidden[s].withUnsafeBufferPointer {
                predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: ForwardWorkspace())
            }
            return (Array(out.logits), Array(out.hidden))
        }
        let cache = predictor.makeKVCache(numBlocks: 4, blockSize: 4, precision: .float16)
        var batch = ForwardBatch()
        batch.removeAll(blockTableStride: 2)
        let ids = [batch.addSequence(blockTable: [3, 0]), batch.addSequence(blockTable: [2, 1])]
        var rows: [(s: Int, i: Int)] = [], input: [Float] = []
        for i in 0..<5 {
            for s in sequences.indices where i < tokens(s).count {
                let (t, p) = tokens(s)[i]
                batch.addToken(t, position: p, sequence: ids[s], wantsLogits: true)
                rows.append((s, i))
                input += hidden[s][(i * d)..<((i + 1) * d)]
            }
        }
        let together = input.withUnsafeBufferPointer {
            predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: ForwardWorkspace())
        }
        for (row, (s, i)) in rows.enumerated() {
            #expect(Array(together.logits[(row * v)..<((row + 1) * v)]) == Array(alone[s].logits[(i * v)..<((i + 1) * v)]))
            #expect(Array(together.hidden[(row * d)..<((row + 1) * d)]) == Array(alone[s].hidden[(i * d)..<((i + 1) * d)]))
        }
    }

    @Test func nextNLayersMustLeaveAMainLayer() throws {
        var spec = TinyModel(seed: 26)
        spec.layers = 0
        let file = try GGUFFile(bytes: spec.withNextN().write())
        #expect(throws: ModelError.invalidConfig("llama.nextn_predict_layers 1 must be less than block_count 1")) {
            try ModelArchitectures.load(file: file, pool: Self.pool)
        }
        spec.layers = 2
        let twoOfFour = try GGUFFile(bytes: spec.withNextN(2).write())
        let model = try ModelArchitectures.load(file: twoOfFour, pool: Self.pool)
        #expect(model.config.numLayers == 2)
        #expect(model.nextTokenPredictor?.layerIndex == 2)
    }

    @Test func missingNextNTensorIsNamed() throws {
        let full = try GGUFFile(bytes: TinyModel(seed: 27).withNextN().write())
        var writer = GGUFWriter()
        for (k, v) in full.metadata.entries { writer.set(k, v) }
        for t in full.tensors where t.name != "blk.2.nextn.eh_proj.weight" {
            writer.add(.init(name: t.name, shape: t.shape, type: t.type, data: Array(full.tensorData(t))))
        }
        let file = try GGUFFile(bytes: writer.bytes())
        #expect(throws: ModelError.missingTensor("blk.2.nextn.eh_proj.weight")) { try ModelArchitectures.load(file: file, pool: Self.pool) }
    }

    // MARK: - Helpers

    /// A tensor of `file` as floats, row-major (GGUF's shape lists the row length first).
    static func matrix(_ file: GGUFFile, _ name: String) throws -> [Float] {
        let info = try #require(file.tensorInfo(name), "\(name)")
        return Dequantize.toFloats(info.type, file.tensorData(info), count: info.shape.reduce(1, *))
    }

    /// Each row of `x` (`columns` wide) times `w` (`rows × columns`).
    static func multiply(_ w: [Float], _ x: [Float], rows: Int, columns: Int) -> [Float] {
        var y: [Float] = []
        for t in 0..<(x.count / columns) {
            for r in 0..<rows {
                var sum: Float = 0
                for c in 0..<columns { sum += w[r * columns + c] * x[t * columns + c] }
                y.append(sum)
            }
        }
        return y
    }

    /// max |a − b| over max |b|.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, let scale = b.map({ abs($0) }).max(), scale > 0 else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }
}
