import Engine
import Foundation
import GGUF
import Kernels
import Models
import TestSupport
import Testing
import Tokenization

/// Gemma 3 270M perplexity with llama.cpp's protocol at context 1024, where every chunk crosses
/// the 512-token sliding window (../shared/golden/gemma3/README.md: llama.cpp 13.7249 over 8 chunks).
@Suite(.serialized) struct GemmaPerplexityTests {
    static let llamaCppPerplexity = 13.7249

    @Test func perplexityAtContext1024IsWithinOnePercentOfLlamaCpp() throws {
        let file = try GGUFFile(path: TestPaths.gemmaModel)
        let model = try ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: 2))
        let tokenizer = try Tokenizer(metadata: file.metadata)
        #expect(tokenizer.vocabulary.addBOS)
        // As llama-perplexity: tokenized whole with BOS; each chunk's first token becomes BOS.
        let tokens = tokenizer.encode(try RealModelTests.corpus(), addSpecial: true)
        let evaluator = PerplexityEvaluator(model: model, contextLength: 1024, bosTokenID: tokenizer.bosTokenId)
        let result = evaluator.evaluate(tokens: tokens, maxChunks: 8)
        print("gemma3 perplexity, 8 chunks of 1024: \(result.perplexity) (llama.cpp \(Self.llamaCppPerplexity))")
        #expect(result.chunks == 8 && result.tokensScored == 8 * 511)
        #expect(abs(result.perplexity - Self.llamaCppPerplexity) / Self.llamaCppPerplexity < 0.01)
    }
}
