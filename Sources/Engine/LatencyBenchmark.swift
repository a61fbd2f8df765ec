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
        /// Microseconds per call of the sampler on one decode step's logits, by setting
        /// (greedy; the CLI's default top-k/top-p/min-p; top-p alone; with 5 logprobs).
        public var samplerMicroseconds: [String: Double] = [:]

        public var promptTokensPerSecond: Double { Self.median(promptRuns) }
        public var generationTokensPerSecond: Double { Self.median(generationRuns) }

        public static func median(_ values: [Double]) -> Double {
            guard !values.isEmpty else { return .nan }
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    public let model: any CausalLM
    public let promptTokens: Int
    public let generatedTokens: Int
    /// Tokens already in the cache when each test starts (llama-bench's `-d`): `tg128` at depth
    /// 4096 decodes positions 4096…4223 over that context.
    public let depth: Int
    /// The KV cache's element type.
    public let kvCacheDtype: KVPrecision
    /// Whether the pp test computes every prompt token's logits (llama.cpp's `logits_all`), as a
    /// speculative verification step does, instead of the last token's only.
    public let logitsAll: Bool

    public init(model: any CausalLM, promptTokens: Int = 512, generatedTokens: Int = 128, depth: Int = 0, kvCacheDtype: KVPrecision = .float16,
                logitsAll: Bool = false) {
        self.model = model
        self.logitsAll = logitsAll
        self.depth = depth
        self.kvCacheDtype = kvCacheDtype
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
    }

    /// Runs one untimed warm-up of each test, then `repetitions` timed ones.
    public func run(repetitions: Int) -> Result {
        let blockSize = 16
        let length = depth + max(promptTokens, generatedTokens)
        let layout = model.kvCacheLayout, blocks = (length + blockSize - 1) / blockSize
        let cache = model.makeKVCache(numBlocks: layout.contiguousBlockCount(sequences: 1, blocks: blocks), blockSize: blockSize,
                                      precision: kvCacheDtype)
        let workspace = ForwardWorkspace()
        let blockTables = layout.contiguousBlockTables(sequence: 0, blocks: blocks)
        var batch = ForwardBatch()
        var rng = RandomGenerator(seed: 1234)
        let vocab = model.config.vocabSize
        let tokens = (0..<length).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
        var result = Result(promptRuns: [], generationRuns: [])
        var lastLogits: [Float] = []
        // The context, once, in chunks of 512: the tests only ever write past it.
        for start in stride(from: 0, to: depth, by: 512) {
            _ = forward(tokens[start..<min(depth, start + 512)], from: start, blockTable: blockTables, batch: &batch, cache: cache, workspace: workspace)
        }
        for rep in 0...repetitions {
            if promptTokens > 0 {
                let t = time {
                    _ = forward(tokens[depth..<(depth + promptTokens)], from: depth, blockTable: blockTables, batch: &batch, cache: cache,
                                workspace: workspace, logitsAll: logitsAll)
                }
                if rep > 0 { result.promptRuns.append(Double(promptTokens) / t) }
            }
            if generatedTokens > 0 {
                let t = time {
                    for i in depth..<(depth + generatedTokens) {
                        let logits = forward(tokens[i...i], from: i, blockTable: blockTables, batch: &batch, cache: cache, workspace: workspace)
                        if rep == repetitions && i == depth + generatedTokens - 1 { lastLogits = Array(logits) }
                    }
                }
                if rep > 0 { result.generationRuns.append(Double(generatedTokens) / t) }
            }
        }
        if !lastLogits.isEmpty { result.samplerMicroseconds = Self.timeSampler(lastLogits) }
        return result
    }

    /// The sampler's cost on real logits, per call, median of 5 rounds of 20.
    static func timeSampler(_ logits: [Float]) -> [String: Double] {
        let settings: [(String, SamplingParams)] = [
            ("greedy", .greedy(maxTokens: 1)),
            ("top_k 40, top_p 0.95, min_p 0.05", SamplingParams(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, maxTokens: 1)),
            ("top_p 0.95", SamplingParams(temperature: 0.8, topK: 0, topP: 0.95, minP: 0, maxTokens: 1)),
        ]
        var sampler = Sampler()
        var rng = RandomGenerator(seed: 7)
        var out: [String: Double] = [:]
        logits.withUnsafeBufferPointer { row in
            func median(_ body: () -> Void) -> Double {
                var rounds: [Double] = []
                for _ in 0..<5 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<20 { body() }
                    rounds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 20_000)
                }
                return Result.median(rounds)
            }
            for (name, params) in settings { out[name] = median { _ = sampler.sample(row, params: params, rng: &rng) } }
            out["greedy + 5 logprobs"] = median { _ = Logprobs.compute(row, token: Sampler.argmax(row), topN: 5) }
        }
        return out
    }

    /// One forward pass of `tokens` at positions `start…`, one sequence, logits of the last token
    /// (of every token with `logitsAll`).
    private func forward(_ tokens: ArraySlice<Int32>, from start: Int, blockTable tables: [[Int32]], batch: inout ForwardBatch,
                         cache: KVCache, workspace: ForwardWorkspace, logitsAll: Bool = false) -> UnsafeBufferPointer<Float> {
        batch.removeAll(blockTableStride: tables[0].count, groups: tables.count)
        let seq = batch.addSequence(blockTables: tables)
        for (i, id) in tokens.enumerated() {
            let position = Int32(start + i)
            batch.addToken(id, position: position, sequence: seq, wantsLogits: logitsAll || i == tokens.count - 1)
        }
        return model.forward(batch, cache: cache, workspace: workspace)
    }

    private func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
