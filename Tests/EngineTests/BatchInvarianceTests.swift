import Engine
import Foundation
import SpecDecode
import TestSupport
import Testing

/// The real model: 32 requests of mixed lengths run together (chunked prefill, a KV pool small
/// enough to force preemptions, shared prefixes hitting the cache) give each request's output alone.
@Suite(.serialized) struct BatchInvarianceTests {
    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 2024)
        let tokenizer = RealModelTests.tokenizer
        let shared = tokenizer.encode("You are a helpful assistant. Answer briefly and precisely. Question:", addSpecial: false)
        let topics = ["the moon", "bread", "rivers", "Swift", "owls", "tea", "glass", "storms"]
        return (0..<32).map { i in
            var p = i % 2 == 0 ? shared : []
            p += tokenizer.encode(" Tell me about \(topics[i % topics.count]) number \(i).", addSpecial: false)
            p += (0..<Int.random(in: 0...60, using: &rng)).map { _ in Int.random(in: 100..<40_000, using: &rng) }
            return p
        }
    }

    static func runAll(_ prompts: [[Int]], params: (Int) -> SamplingParams, config: EngineConfig) throws -> ([[Int]], EngineStats) {
        let engine = try RealModelTests.engine(config)
        let ids = try prompts.indices.map { try engine.addRequest(.tokens(prompts[$0]), params: params($0)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        return (ids.map { results[$0]![0].tokenIds }, engine.stats)
    }

    static func alone(_ prompts: [[Int]], params: (Int) -> SamplingParams) throws -> [[Int]] {
        try prompts.indices.map { i in try runAll([prompts[i]], params: { _ in params(i) }, config: EngineConfig(kvCacheMemory: 64 << 20)).0[0] }
    }

    static let small = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 96, maxNumSeqs: 32), blockSize: 16,
                                    kvCacheMemory: 40 * 16 * 23_040)  // 40 blocks of half-precision K/V

    @Test func greedyOutputsMatchRunningAlone() throws {
        let prompts = Self.prompts()
        let params = { (i: Int) in SamplingParams(temperature: 0, maxTokens: 8 + i % 12, ignoreEOS: true) }
        let (together, stats) = try Self.runAll(prompts, params: params, config: Self.small)
        let alone = try Self.alone(prompts, params: params)
        for i in prompts.indices { #expect(together[i] == alone[i], "request \(i)") }
        print("batch invariance: \(stats.numPreemptions) preemptions, prefix hit rate \(stats.prefixCache.hitRate)")
        #expect(stats.numPreemptions > 0)
        #expect(stats.prefixCache.hits > 0)
    }

    /// The same with speculation on (n-gram and suffix drafts verified in the same steps): each
    /// request still gives its output alone, without speculation.
    @Test(arguments: [SpeculativeConfig.Method.ngram, .suffix])
    func greedyOutputsWithSpeculationMatchRunningAlone(method: SpeculativeConfig.Method) throws {
        let prompts = Self.prompts()
        let params = { (i: Int) in SamplingParams(temperature: 0, maxTokens: 8 + i % 12, ignoreEOS: true) }
        var config = Self.small
        config.speculative = SpeculativeConfig(method: method, numSpeculativeTokens: 4)
        config.speculative?.adaptive = false  // fixed lengths: the counts below do not depend on step times
        config.speculative?.promptLookupMin = 1
        let (together, stats) = try Self.runAll(prompts, params: params, config: config)
        let alone = try Self.alone(prompts, params: params)
        for i in prompts.indices { #expect(together[i] == alone[i], "request \(i)") }
        let spec = try #require(stats.specDecode)
        print("batch invariance with \(method): \(spec.numDraftTokens) draft tokens, \(spec.numAcceptedTokens) accepted, \(stats.numPreemptions) preemptions")
        #expect(spec.numAcceptedTokens > 0)
    }

    @Test func seededSamplingMatchesRunningAlone() throws {
        let prompts = Array(Self.prompts().prefix(12))
        let params = { (i: Int) in SamplingParams(temperature: 0.9, topK: 50, topP: 0.95, seed: UInt64(100 + i), maxTokens: 10, ignoreEOS: true) }
        let (together, _) = try Self.runAll(prompts, params: params, config: Self.small)
        let alone = try Self.alone(prompts, params: params)
        #expect(together == alone)
    }
}
