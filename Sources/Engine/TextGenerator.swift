import Foundation
import Models
import Tokenization

/// Generates text for one prompt: prefill in chunks, then one token per step, streaming text as
/// soon as it is final. The engine (LLMEngine) batches many requests; this is the one-sequence
/// path the CLI uses, over the same model and paged cache.
public final class TextGenerator {
    public struct Statistics: Sendable {
        public var promptTokens = 0
        public var generatedTokens = 0
        public var promptSeconds = 0.0
        public var generationSeconds = 0.0
        public var finishReason = FinishReason.length

        public var promptTokensPerSecond: Double { Double(promptTokens) / max(promptSeconds, 1e-9) }
        /// Tokens after the first (which comes out of the prefill) over the decode time.
        public var generationTokensPerSecond: Double { Double(max(generatedTokens - 1, 0)) / max(generationSeconds, 1e-9) }
    }

    public enum FinishReason: String, Sendable {
        case stop, length
    }

    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// Largest number of prompt tokens run in one forward pass.
    public var prefillChunk = 512
    private var sampler = Sampler()

    public init(model: LlamaModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates from `prompt` (token ids), calling `onText` with each piece of final text.
    /// Stops at an end-of-generation token (unless `ignoreEOS`), at `maxTokens`, or at the
    /// model's context length; `onText` returning false stops early.
    public func generate(prompt: [Int], params: SamplingParams, onText: (String) -> Bool) throws -> Statistics {
        try params.validate()
        let contextLength = model.config.contextLength
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count < contextLength else { throw GenerationError.promptTooLong(tokens: prompt.count, limit: contextLength) }
        let total = min(contextLength, prompt.count + params.maxTokens)
        let blockSize = 16
        let cache = model.makeKVCache(numBlocks: (total + blockSize - 1) / blockSize, blockSize: blockSize)
        let blockTable = (0..<Int32(cache.numBlocks)).map { $0 }
        var rng = RandomGenerator(seed: params.seed ?? UInt64.random(in: 0...UInt64.max))
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        var stats = Statistics(promptTokens: prompt.count)
        var batch = ForwardBatch()

        func run(_ tokens: ArraySlice<Int>, from start: Int) -> UnsafeBufferPointer<Float> {
            batch.removeAll(blockTableStride: blockTable.count)
            let seq = batch.addSequence(blockTable: blockTable)
            for (i, id) in tokens.enumerated() {
                let pos = Int32(start + i)
                batch.addToken(Int32(id), position: pos, sequence: seq, slot: pos, wantsLogits: i == tokens.count - 1)
            }
            return model.forward(batch, cache: cache)
        }

        let promptStart = Date()
        var logits = UnsafeBufferPointer<Float>(start: nil, count: 0)
        for start in stride(from: 0, to: prompt.count, by: prefillChunk) {
            logits = run(prompt[start..<min(prompt.count, start + prefillChunk)], from: start)
        }
        stats.promptSeconds = Date().timeIntervalSince(promptStart)

        let decodeStart = Date()
        var position = prompt.count
        while true {
            let next = sampler.sample(logits, params: params, rng: &rng)
            stats.generatedTokens += 1
            if !params.ignoreEOS && tokenizer.isEndOfGeneration(next) {
                stats.finishReason = .stop
                break
            }
            let text = detokenizer.append(next)
            if !text.isEmpty && !onText(text) { stats.finishReason = .stop; break }
            if stats.generatedTokens >= params.maxTokens || position + 1 >= total { break }
            logits = run([next], from: position)
            position += 1
        }
        let tail = detokenizer.finish()
        if !tail.isEmpty { _ = onText(tail) }
        stats.generationSeconds = Date().timeIntervalSince(decodeStart)
        return stats
    }
}

public enum GenerationError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(tokens: Int, limit: Int)

    public var description: String {
        switch self {
        case .emptyPrompt: "the prompt is empty"
        case .promptTooLong(let n, let limit): "the prompt has \(n) tokens; the model's context holds \(limit)"
        }
    }
}
