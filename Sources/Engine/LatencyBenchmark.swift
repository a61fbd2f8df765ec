import Foundation
import Kernels
import Models

/// llama-bench's two figures for one sequence, straight through the model (no scheduler, no
/// sampling): `pp<P>` evaluates a P-token prompt as one batch into an empty cache, `tg<N>`
/// decodes N tokens one at a time from an empty cache; both in tokens per second. Tokens are
/// random ids from a fixed seed, as llama-bench's are.
public struct LatencyBenchmark {
    public struct Result: Sendable, Equatable {
        /// Tokens per second of each timed repetition.
        public var promptRuns: [Double]
        public var generationRuns: [Double]

        public var promptTokensPerSecond: Double { Self.median(promptRuns) }
        public var generationTokensPerSecond: Double { Self.median(generationRuns) }

        public static func median(_ values: [Double]) -> Double {
            guard !values.isEmpty else { return .nan }
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    public let model: LlamaModel
    public let promptTokens: Int
    public let generatedTokens: Int
    /// The KV cache's element type.
    public let kvCacheDtype: KVPrecision

    public init(model: LlamaModel, promptTokens: Int = 512, generatedTokens: Int = 128, kvCacheDtype: KVPrecision = .float16) {
        self.model = model
        self.kvCacheDtype = kvCacheDtype
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
    }

    /// Runs one untimed warm-up of each test, then `repetitions` timed ones.
    public func run(repetitions: Int) -> Result {
        let blockSize = 16
        let length = max(promptTokens, generatedTokens)
        let cache = model.makeKVCache(numBlocks: (length + blockSize - 1) / blockSize, blockSize: blockSize, precision: kvCacheDtype)
        let workspace = ForwardWorkspace()
        let blockTable = (0..<Int32(cache.numBlocks)).map { $0 }
        var batch = ForwardBatch()
        var rng = RandomGenerator(seed: 1234)
        let vocab = model.config.vocabSize
        let tokens = (0..<length).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
        var result = Result(promptRuns: [], generationRuns: [])
        for rep in 0...repetitions {
            if promptTokens > 0 {
                let t = time { _ = forward(tokens[0..<promptTokens], from: 0, blockTable: blockTable, batch: &batch, cache: cache, workspace: workspace) }
                if rep > 0 { result.promptRuns.append(Double(promptTokens) / t) }
            }
            if generatedTokens > 0 {
                let t = time {
                    for i in 0..<generatedTokens { _ = forward(tokens[i...i], from: i, blockTable: blockTable, batch: &batch, cache: cache, workspace: workspace) }
                }
                if rep > 0 { result.generationRuns.append(Double(generatedTokens) / t) }
            }
        }
        return result
    }

    /// One forward pass of `tokens` at positions `start…`, one sequence, logits of the last token.
    private func forward(_ tokens: ArraySlice<Int32>, from start: Int, blockTable: [Int32], batch: inout ForwardBatch,
                         cache: KVCache, workspace: ForwardWorkspace) -> UnsafeBufferPointer<Float> {
        batch.removeAll(blockTableStride: cache.numBlocks)
        let seq = batch.addSequence(blockTable: blockTable)
        for (i, id) in tokens.enumerated() {
            let position = Int32(start + i)
            batch.addToken(id, position: position, sequence: seq, slot: position, wantsLogits: i == tokens.count - 1)
        }
        return model.forward(batch, cache: cache, workspace: workspace)
    }

    private func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
