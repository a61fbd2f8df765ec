@testable import Engine
import Foundation
import SpecDecode
import TestSupport
import Testing

/// Rejected drafts never reach a block hash: after requests ran with speculation (drafts mostly
/// rejected by a draft model that rarely agrees), every block left in the prefix cache holds a
/// block-aligned slice of some request's real tokens (prompt, then output).
@Suite struct SpeculativeBlockHashTests {
    @Test(arguments: ["draft", "ngram"])
    func onlyAcceptedTokensAreCached(method: String) throws {
        let spec = SpeculativeDecodingTests.methods.first { $0.0 == method }!.1
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 400, blockSize: 4))
        config.speculative = spec
        let engine = try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config)
        let prompts = SpeculativeDecodingTests.prompts(10, seed: 23)
        let ids = try prompts.map { try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: 30, ignoreEOS: true)) }
        let results = engine.runToCompletion()
        let stats = try #require(engine.stats.specDecode)
        #expect(stats.numDraftTokens > stats.numAcceptedTokens, "no rejected drafts to test with")
        var real = Set<[Int]>()
        for (prompt, id) in zip(prompts, ids) {
            let tokens = prompt + results[id]![0].tokenIds
            for b in 0..<(tokens.count / 4) { real.insert(Array(tokens[(b * 4)..<(b * 4 + 4)])) }
        }
        let pool = engine.scheduler.kvCacheManager.blockPool
        let cached = pool.blocks.filter { $0.blockHash != nil }
        #expect(!cached.isEmpty)
        for block in cached { #expect(real.contains(block.tokenIds), "block \(block.blockId) caches \(block.tokenIds), no request's tokens") }
        #expect(TinyEngine.allBlocksFree(engine))
    }
}
