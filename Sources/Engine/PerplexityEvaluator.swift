import Kernels
import Models

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Perplexity with llama.cpp's protocol (`llama-perplexity -c N`): the token stream is cut into
/// consecutive chunks of `contextLength` tokens (the remainder dropped), each chunk runs as its
/// own sequence, and only the second half is scored: the logits at positions N/2 … N−2 predict
/// tokens N/2+1 … N−1. PPL = exp(mean negative log-likelihood).
public struct PerplexityEvaluator {
    public struct Result: Sendable, Equatable {
        public var perplexity: Double
        public var chunks: Int
        public var tokensScored: Int
        public var meanNegativeLogLikelihood: Double
    }

    public let model: any CausalLM
    public let contextLength: Int
    /// When set, each chunk's first token is replaced by this BOS id (as llama.cpp does for models that add BOS).
    public let bosTokenID: Int?
    /// The KV cache's element type.
    public let kvCacheDtype: KVPrecision

    public init(model: any CausalLM, contextLength: Int = 512, bosTokenID: Int? = nil, kvCacheDtype: KVPrecision = .float16) {
        self.model = model
        self.kvCacheDtype = kvCacheDtype
        self.contextLength = contextLength
        self.bosTokenID = bosTokenID
    }

    /// Number of whole chunks in `tokenCount` tokens.
    public func chunkCount(tokenCount: Int) -> Int { tokenCount / contextLength }

    /// Scores up to `maxChunks` chunks; `onChunk` sees the running result after each.
    public func evaluate(tokens: [Int], maxChunks: Int? = nil, onChunk: (Result) -> Void = { _ in }) -> Result {
        let n = contextLength, first = n / 2
        let chunks = min(chunkCount(tokenCount: tokens.count), maxChunks ?? Int.max)
        let blockSize = 16
        let layout = model.kvCacheLayout, blocks = (n + blockSize - 1) / blockSize
        let cache = model.makeKVCache(numBlocks: layout.contiguousBlockCount(sequences: 1, blocks: blocks), blockSize: blockSize,
                                      precision: kvCacheDtype)
        let tables = layout.contiguousBlockTables(sequence: 0, blocks: blocks)
        let vocab = model.config.vocabSize
        var nll = 0.0, count = 0
        var result = Result(perplexity: .nan, chunks: 0, tokensScored: 0, meanNegativeLogLikelihood: .nan)
        var batch = ForwardBatch()
        let workspace = ForwardWorkspace()
        for c in 0..<chunks {
            let chunk = Array(tokens[(c * n)..<((c + 1) * n)])
            batch.removeAll(blockTableStride: blocks, groups: layout.numGroups)
            let seq = batch.addSequence(blockTables: tables)
            for (i, id) in chunk.enumerated() {
                let token = i == 0 ? (bosTokenID ?? id) : id
                batch.addToken(Int32(token), position: Int32(i), sequence: seq, wantsLogits: i >= first && i < n - 1)
            }
            let logits = model.forward(batch, cache: cache, workspace: workspace)
            for (r, i) in (first..<(n - 1)).enumerated() {
                let row = UnsafeBufferPointer(rebasing: logits[(r * vocab)..<((r + 1) * vocab)])
                nll -= Double(Self.logSoftmax(row, at: chunk[i + 1]))
                count += 1
            }
            result = Result(perplexity: exp(nll / Double(count)), chunks: c + 1, tokensScored: count,
                            meanNegativeLogLikelihood: nll / Double(count))
            onChunk(result)
        }
        return result
    }

    /// log softmax(row)[index], computed stably in double precision.
    public static func logSoftmax(_ row: UnsafeBufferPointer<Float>, at index: Int) -> Double {
        var m = -Float.infinity
        for v in row { m = max(m, v) }
        var sum = 0.0
        for v in row { sum += Double(expf(v - m)) }
        return Double(row[index] - m) - log(sum)
    }
}
