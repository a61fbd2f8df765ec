import Engine
import Foundation
import TestSupport
import Testing

/// Stop strings, EOS, stop tokens, max_tokens, min_tokens, n > 1 and abort.
@Suite(.serialized) struct StopConditionTests {
    static func run(_ engine: LLMEngine, _ prompt: PromptInput, _ params: SamplingParams) throws -> [CompletionResult] {
        let id = try engine.addRequest(prompt, params: params)
        return engine.runToCompletion()[id] ?? []
    }

    /// " Paris" + "." are two tokens of the real model's greedy answer; "ris." spans both.
    @Test func stopStringSpanningTokensEndsTheRequest() throws {
        let engine = try RealModelTests.engine()
        var params = SamplingParams.greedy(maxTokens: 20)
        params.stop = ["ris."]
        let r = try #require(Self.run(engine, .text("The capital of France is"), params).first)
        #expect(r.text == " Pa")
        #expect(r.finishReason == .stop && r.stopReason == .string("ris."))
        #expect(r.tokenIds == [7042, 30])
        params.includeStopStrInOutput = true
        let kept = try #require(Self.run(engine, .text("The capital of France is"), params).first)
        #expect(kept.text == " Paris.")
        #expect(TinyEngine.allBlocksFree(engine))
    }

    /// Text that might start a stop string is held back, then released when it does not.
    @Test func streamingHoldsBackPossibleStopStrings() throws {
        let engine = try RealModelTests.engine()
        var params = SamplingParams.greedy(maxTokens: 8)
        params.stop = ["Paris!"]  // never completed: " Paris" is followed by "."
        let id = try engine.addRequest(.text("The capital of France is"), params: params)
        var pieces: [String] = []
        while engine.hasUnfinishedRequests { for o in engine.step() { pieces += o.outputs.map(\.text) } }
        // llama.cpp's greedy text up to its first near tie (step 5: "United" against another
        // word 0.26 nats behind), after which kernels that sum in another order may differ.
        #expect(pieces.joined().hasPrefix(" Paris.\n\nThe"))
        // The last 5 bytes (one less than the stop string) wait: " Paris" could have become "Paris!".
        #expect(pieces.first == " ")
        _ = id
    }

    @Test func endOfSequenceStopsUnlessIgnored() throws {
        let engine = try TinyEngine.make()
        let eos = TinyModel.eosTokenId
        var params = SamplingParams.greedy(maxTokens: 10)
        params.logitBias = [eos: 100]
        let r = try #require(Self.run(engine, .tokens([5, 6]), params).first)
        #expect(r.tokenIds == [eos] && r.finishReason == .stop && r.stopReason == .eos(eos) && r.text == "")
        params.ignoreEOS = true
        let ignored = try #require(Self.run(engine, .tokens([5, 6]), params).first)
        #expect(ignored.tokenIds == [Int](repeating: eos, count: 10) && ignored.finishReason == .length)
    }

    @Test func minTokensHoldsBackEOSAndStopTokens() throws {
        let engine = try TinyEngine.make()
        let eos = TinyModel.eosTokenId
        var params = SamplingParams.greedy(maxTokens: 20)
        params.logitBias = [eos: 100]
        params.minTokens = 5
        let r = try #require(Self.run(engine, .tokens([5, 6]), params).first)
        #expect(r.tokenIds.count == 6 && r.tokenIds.last == eos && !r.tokenIds.dropLast().contains(eos))
        var stopToken = SamplingParams.greedy(maxTokens: 20)
        stopToken.logitBias = [10: 100]
        stopToken.stopTokenIds = [10]
        stopToken.minTokens = 3
        let s = try #require(Self.run(engine, .tokens([5, 6]), stopToken).first)
        #expect(s.tokenIds.count == 4 && s.stopReason == .token(10) && s.finishReason == .stop)
    }

    @Test func maxTokensCapsTheLength() throws {
        let engine = try TinyEngine.make()
        var params = SamplingParams.greedy(maxTokens: 7)
        params.ignoreEOS = true
        let r = try #require(Self.run(engine, .tokens([1, 2, 3]), params).first)
        #expect(r.tokenIds.count == 7 && r.finishReason == .length)
    }

    @Test func nCompletionsShareThePromptBlocks() throws {
        let engine = try TinyEngine.make(blocks: 100, blockSize: 4, budget: 256)
        var params = SamplingParams(n: 4, temperature: 1, seed: 3, maxTokens: 6)
        params.ignoreEOS = true
        let prompt = Array(0..<21)
        let results = try Self.run(engine, .tokens(prompt), params)
        #expect(results.map(\.index) == [0, 1, 2, 3])
        #expect(results.allSatisfy { $0.tokenIds.count == 6 })
        #expect(Set(results.map(\.tokenIds)).count > 1)
        // Children after the first hit the prompt's 5 full blocks.
        #expect(engine.stats.prefixCache.hits == 3 * 20)
        #expect(TinyEngine.allBlocksFree(engine))
        // Seeded: the same again.
        let again = try Self.run(try TinyEngine.make(blocks: 100, blockSize: 4, budget: 256), .tokens(prompt), params)
        #expect(again.map(\.tokenIds) == results.map(\.tokenIds))
    }

    @Test func abortFreesBlocksAndEndsTheStream() throws {
        let engine = try TinyEngine.make()
        var params = SamplingParams.greedy(maxTokens: 50)
        params.ignoreEOS = true
        let id = try engine.addRequest(.tokens([1, 2, 3, 4, 5]), params: params)
        _ = engine.step()
        _ = engine.step()
        let final = engine.abortRequest(id)
        #expect(final.count == 1 && final[0].finished && final[0].outputs[0].finishReason == .abort)
        #expect(!engine.hasUnfinishedRequests)
        #expect(TinyEngine.allBlocksFree(engine))
        #expect(engine.abortRequest("unknown").isEmpty)
    }

    @Test func logprobsAreReturned() throws {
        let engine = try TinyEngine.make()
        var params = SamplingParams.greedy(maxTokens: 3)
        params.logprobs = 2
        params.promptLogprobs = 1
        params.ignoreEOS = true
        let id = try engine.addRequest(.tokens([3, 4, 5, 6]), params: params)
        var promptLogprobs: [TokenLogprobs?] = []
        var result = CompletionResult(index: 0)
        while engine.hasUnfinishedRequests {
            for o in engine.step() {
                promptLogprobs += o.promptLogprobs ?? []
                o.outputs.forEach { result.append($0) }
            }
        }
        _ = id
        #expect(promptLogprobs.count == 4 && promptLogprobs[0] == nil)
        #expect(promptLogprobs.dropFirst().map { $0?.tokenId } == [4, 5, 6])
        #expect(result.logprobs.count == 3)
        for lp in result.logprobs {
            #expect(lp.rank == 1 && lp.top.count == 2 && lp.top[0].tokenId == lp.tokenId && lp.logprob <= 0)
        }
    }
}
