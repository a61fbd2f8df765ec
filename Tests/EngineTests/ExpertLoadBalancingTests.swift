import EPLB
import Engine
import Foundation
import GGUF
import Models
import TestSupport
import Testing
import Tokenization

/// EPLB inside the engine on a tiny MoE model: the router's counts reach the recorder, placements
/// change every few steps, and no request's greedy output changes.
@Suite(.serialized) struct ExpertLoadBalancingTests {
    static let file = try! GGUFFile(bytes: TinyEngine.moe("qwen2moe", .q4_1, seed: 41).write())

    static func engine(eplb: EPLBConfig?) throws -> LLMEngine {
        let model = try ModelArchitectures.load(file: file, pool: TinyEngine.pool)
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 24, maxNumSeqs: 8), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 200, blockSize: 4, model: model), eplb: eplb)
        return try LLMEngine(model: model, tokenizer: try Tokenizer(metadata: file.metadata), config: config)
    }

    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 42)
        return (0..<12).map { _ in (0..<Int.random(in: 3...30, using: &rng)).map { _ in Int.random(in: 0..<62, using: &rng) } }
    }

    static func run(_ engine: LLMEngine) throws -> [[Int]] {
        let ids = try prompts().map { try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        return ids.map { results[$0]![0].tokenIds }
    }

    /// Chunked prefill, many sequences, replicas on 4 ranks, and a new placement every 3 steps:
    /// the same tokens as with EPLB off.
    @Test func greedyOutputsDoNotDependOnPlacement() throws {
        let plain = try Self.engine(eplb: nil)
        let reference = try Self.run(plain)
        let off = try #require(plain.stats.expertLoad)
        #expect(!off.rebalancing && off.rebalances == 0 && off.numPhysicalExperts == 8)
        let balanced = try Self.engine(eplb: EPLBConfig(windowSize: 50, stepInterval: 3, numRedundantExperts: 4, numRanks: 4))
        #expect(try Self.run(balanced) == reference)
        let stats = try #require(balanced.stats.expertLoad)
        #expect(stats.rebalancing && stats.numPhysicalExperts == 12 && stats.numRanks == 4)
        #expect(stats.rebalances == balanced.stats.steps / 3)
        #expect(stats.balancedness.count == 2 && stats.balancedness.allSatisfy { $0 > 0 && $0 <= 1 })
    }

    /// The recorder's window holds every token the model ran, k times per layer.
    @Test func loadCountsEveryRoutedToken() throws {
        let engine = try Self.engine(eplb: EPLBConfig(windowSize: 10_000, stepInterval: 10_000))
        _ = try Self.run(engine)
        let s = engine.stats
        let load = try #require(s.expertLoad).load
        for layer in 0..<load.numLayers { #expect(Int(load.row(layer).reduce(0, +)) == 2 * s.prefilledTokens + 2 * (s.generationTokens - 12)) }
    }

    @Test func configuration() throws {
        let parsed = try EPLBConfig(json: #"{"window_size":8,"step_interval":2,"num_redundant_experts":4,"log_balancedness":true,"num_ranks":4}"#)
        #expect(parsed == EPLBConfig(windowSize: 8, stepInterval: 2, numRedundantExperts: 4, logBalancedness: true, numRanks: 4))
        #expect(try EPLBConfig(json: "{}") == EPLBConfig())
        let spread = try EPLBConfig(json: #"{"num_ranks":4,"num_nodes":2,"num_groups":4,"replace_dead_ranks":true}"#)
        #expect(spread == EPLBConfig(numRanks: 4, numNodes: 2, numGroups: 4, replaceDeadRanks: true))
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: #"{"num_nodes":0}"#) }
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: #"{"replace_dead_ranks":1}"#) }
        // 8 experts in 3 groups do not split.
        #expect(throws: EngineConfigError.self) { try Self.engine(eplb: EPLBConfig(numRanks: 4, numGroups: 3)) }
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: #"{"window":8}"#) }
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: #"{"num_ranks":"4"}"#) }
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: #"{"step_interval":0}"#) }
        #expect(throws: EngineConfigError.self) { try EPLBConfig(json: "[1]") }
        // 8 experts + 3 redundant do not split over 4 ranks; a dense model has nothing to balance.
        #expect(throws: EngineConfigError.self) { try Self.engine(eplb: EPLBConfig(numRedundantExperts: 3, numRanks: 4)) }
        let dense = EngineConfig(kvCacheMemory: TinyEngine.bytes(blocks: 10, blockSize: 16), eplb: EPLBConfig())
        #expect(throws: EngineConfigError.self) { try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: dense) }
    }
}
