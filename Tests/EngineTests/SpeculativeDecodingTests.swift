import Engine
import Foundation
import GGUF
import Models
import SpecDecode
import TestSupport
import Testing

/// Speculative decoding is lossless: greedy outputs with every proposer equal the outputs
/// without speculation, whatever the batch, the KV pool and the sampling settings; sampled
/// tokens follow the same distribution (a chi-square test at a level that cannot flake).
@Suite(.serialized) struct SpeculativeDecodingTests {
    /// A draft for the tiny model: another random model with the same vocabulary, written to disk.
    static let draftPath = temporaryModel("draft", TinyModel(architecture: "llama", contextLength: 4096, seed: 77))
    /// The target itself as its draft: every greedy draft is accepted.
    static let selfDraftPath = temporaryModel("self-draft", TinyModel(architecture: "qwen2", contextLength: 4096, seed: 21))

    /// `model` written to a file of this process's that is removed when the process exits.
    static func temporaryModel(_ name: String, _ model: TinyModel) -> String {
        let path = temporaryModelPath(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(model.write()))
        _ = removedAtExit
        return path
    }

    /// Registers, once, the removal of both models' files when the process exits.
    static let removedAtExit: Void = {
        atexit {
            for name in ["draft", "self-draft"] { unlink(SpeculativeDecodingTests.temporaryModelPath(name)) }
        }
    }()

    static func temporaryModelPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-\(name)-\(getpid()).gguf").path
    }

    /// The tiny model with one MTP (nextn) layer after its main ones: the same main weights.
    static let mtpModel = try! ModelArchitectures.load(
        file: GGUFFile(bytes: TinyModel(architecture: "qwen2", contextLength: 4096, seed: 21).withNextN(1).write()), pool: TinyEngine.pool)

    static func model(for method: String) -> any CausalLM { method == "mtp" ? mtpModel : TinyEngine.model }

    /// Every method with fixed draft lengths (the adaptive ones depend on measured step times,
    /// so their counts vary from run to run), and n-gram with adaptive lengths as served.
    static let methods: [(String, SpeculativeConfig)] = {
        func fixed(_ method: SpeculativeConfig.Method, _ k: Int, model: String? = nil) -> SpeculativeConfig {
            var c = SpeculativeConfig(method: method, numSpeculativeTokens: k, model: model)
            c.adaptive = false
            (c.promptLookupMin, c.promptLookupMax) = (1, 4)  // the tiny prompts repeat short units
            return c
        }
        var adaptive = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 4)
        (adaptive.promptLookupMin, adaptive.promptLookupMax) = (1, 4)
        var suffix = fixed(.suffix, 8)
        suffix.suffixMinTokenProbability = 0
        return [("ngram", fixed(.ngram, 4)), ("ngram adaptive", adaptive),
                ("suffix", suffix), ("draft", fixed(.draftModel, 3, model: draftPath)), ("self draft", fixed(.draftModel, 5, model: selfDraftPath)),
                ("mtp", fixed(.mtp, 3))]
    }()

    /// Prompts that repeat themselves (drafts accepted often) and random ones (rarely).
    static func prompts(_ count: Int, seed: UInt64 = 5) -> [[Int]] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            if i % 2 == 0 {
                let unit = (0..<(3 + i % 5)).map { _ in Int.random(in: 0..<62, using: &rng) }
                return Array(repeatElement(unit, count: 4 + i % 3).joined())
            }
            return (0..<(5 + i * 3 % 40)).map { _ in Int.random(in: 0..<62, using: &rng) }
        }
    }

    static func run(_ prompts: [[Int]], params: (Int) -> SamplingParams, speculative: SpeculativeConfig?,
                    blocks: Int = 400, budget: Int = 64, model: any CausalLM = TinyEngine.model) throws -> ([CompletionResult], EngineStats) {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: blocks, blockSize: 4, model: model))
        config.speculative = speculative
        let engine = try LLMEngine(model: model, tokenizer: TinyEngine.tokenizer, config: config)
        let ids = try prompts.indices.map { try engine.addRequest(.tokens(prompts[$0]), params: params($0)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        return (ids.map { results[$0]![0] }, engine.stats)
    }

    @Test(arguments: methods.map(\.0))
    func greedyOutputsAreIdentical(method: String) throws {
        let spec = Self.methods.first { $0.0 == method }!.1
        let prompts = Self.prompts(12)
        let params = { (i: Int) in SamplingParams(temperature: 0, maxTokens: 10 + i % 17, ignoreEOS: true) }
        let model = Self.model(for: method)
        let (plain, _) = try Self.run(prompts, params: params, speculative: nil, model: model)
        let (batched, stats) = try Self.run(prompts, params: params, speculative: spec, model: model)
        for i in prompts.indices { #expect(batched[i].tokenIds == plain[i].tokenIds, "\(method), request \(i)") }
        for i in [0, 1] {
            let (alone, _) = try Self.run([prompts[i]], params: { _ in params(i) }, speculative: spec, model: model)
            #expect(alone[0].tokenIds == plain[i].tokenIds, "\(method), request \(i) alone")
        }
        let s = try #require(stats.specDecode)
        print("\(method): \(s.numDrafts) drafts, \(s.numDraftTokens) draft tokens, \(s.numAcceptedTokens) accepted")
        // A random MTP layer rarely agrees with its model (MTPProposerTests check what it drafts);
        // adaptive lengths depend on the machine's step times.
        guard method != "ngram adaptive" else { return }
        #expect(s.numDraftTokens > 0 && (s.numAcceptedTokens > 0 || method == "mtp"), "\(method): \(s)")
        #expect(s.acceptedPerPosition.first ?? 0 <= s.numDrafts && s.acceptedPerPosition.reduce(0, +) == s.numAcceptedTokens)
        if method == "self draft" { #expect(s.numAcceptedTokens == s.numDraftTokens) }
    }

    /// Penalties, bias, min_tokens, stop tokens and strings, max_tokens and log-probabilities
    /// all see each accepted token as if it had come alone.
    @Test(arguments: methods.map(\.0))
    func samplingParametersHoldInsideAcceptedRuns(method: String) throws {
        let spec = Self.methods.first { $0.0 == method }!.1
        let prompts = Self.prompts(8, seed: 9)
        let params = { (i: Int) -> SamplingParams in
            var p = SamplingParams(temperature: 0, maxTokens: 24, logprobs: 2)
            switch i % 4 {
            case 0: p.repetitionPenalty = 1.3; p.frequencyPenalty = 0.4
            case 1: p.presencePenalty = 0.8; p.logitBias = [prompts[i][0]: 3, prompts[i][1]: -2]
            case 2: p.minTokens = 6; p.stopTokenIds = [prompts[i][2]]
            default: p.stop = [TinyEngine.tokenizer.decode(Array(prompts[i][1...2]))]
            }
            return p
        }
        let model = Self.model(for: method)
        let (plain, _) = try Self.run(prompts, params: params, speculative: nil, model: model)
        let (fast, _) = try Self.run(prompts, params: params, speculative: spec, model: model)
        for i in prompts.indices {
            #expect(fast[i].tokenIds == plain[i].tokenIds, "\(method), request \(i)")
            #expect(fast[i].text == plain[i].text && fast[i].finishReason == plain[i].finishReason && fast[i].stopReason == plain[i].stopReason)
            #expect(fast[i].logprobs == plain[i].logprobs, "\(method), request \(i) logprobs")
        }
    }

    /// A KV pool small enough to preempt, a budget that chunks prompts and trims drafts, and
    /// shared prefixes that hit the cache: outputs are still those of each request alone.
    @Test(arguments: ["ngram", "suffix", "draft", "mtp"])
    func preemptionChunkingAndPrefixHitsComposeWithSpeculation(method: String) throws {
        let spec = Self.methods.first { $0.0 == method }!.1
        let model = Self.model(for: method)
        let shared = Self.prompts(1, seed: 3)[0]
        let prompts = Self.prompts(14, seed: 11).enumerated().map { $0.offset % 3 == 0 ? shared + $0.element : $0.element }
        let params = { (i: Int) in SamplingParams(temperature: 0, maxTokens: 20 + i % 9, ignoreEOS: true) }
        let (tight, stats) = try Self.run(prompts, params: params, speculative: spec, blocks: 60, budget: 24, model: model)
        #expect(stats.numPreemptions > 0, "no preemption: the pool is too large for this test")
        #expect(stats.prefixCache.hits > 0)
        #expect((stats.specDecode?.numDraftTokens ?? 0) > 0)
        let (plain, _) = try Self.run(prompts, params: params, speculative: nil, model: model)
        for i in prompts.indices { #expect(tight[i].tokenIds == plain[i].tokenIds, "\(method), request \(i)") }
    }

    /// Greedy speculation on every architecture of the seam (sliding windows, experts).
    @Test(arguments: TinyEngine.architectures.keys.sorted())
    func everyArchitectureStaysIdentical(architecture: String) throws {
        let model = TinyEngine.architectures[architecture]!
        let prompts = Self.prompts(6, seed: 13)
        let params = { (i: Int) in SamplingParams(temperature: 0, maxTokens: 16, ignoreEOS: true) }
        let spec = Self.methods[0].1
        let (plain, _) = try Self.run(prompts, params: params, speculative: nil, model: model)
        let (fast, stats) = try Self.run(prompts, params: params, speculative: spec, model: model)
        for i in prompts.indices { #expect(fast[i].tokenIds == plain[i].tokenIds, "\(architecture), request \(i)") }
        #expect((stats.specDecode?.numDraftTokens ?? 0) > 0)
    }

    /// The distribution of sampled tokens is unchanged: tokens 2–4 of 1,500 seeded requests
    /// with and without speculation, by a two-sample chi-square test at p = 1e-6. The test is
    /// shown to have power: two temperatures are told apart.
    @Test(arguments: ["ngram", "draft", "self draft"])
    func sampledTokensKeepTheirDistribution(method: String) throws {
        let spec = Self.methods.first { $0.0 == method }!.1
        let prompt = Self.prompts(1, seed: 17)[0]
        let n = 1500
        func draws(_ spec: SpeculativeConfig?, temperature: Float, seedBase: UInt64) throws -> [[Int]] {
            let params = { (i: Int) in SamplingParams(temperature: temperature, topK: 20, topP: 0.95, seed: seedBase + UInt64(i), maxTokens: 4, ignoreEOS: true) }
            let (results, stats) = try Self.run(Array(repeating: prompt, count: n), params: params, speculative: spec, blocks: 800, budget: 256)
            if spec != nil { #expect((stats.specDecode?.numAcceptedTokens ?? 0) > 50, "\(method): too few accepted drafts to test") }
            return results.map(\.tokenIds)
        }
        let plain = try draws(nil, temperature: 0.6, seedBase: 0)
        let fast = try draws(spec, temperature: 0.6, seedBase: 1_000_000)
        for position in 1..<4 {
            let (statistic, critical) = ChiSquare.twoSample(plain.map { $0[position] }, fast.map { $0[position] })
            #expect(statistic < critical, "\(method), token \(position): χ² \(statistic) ≥ \(critical)")
        }
        let hotter = try draws(nil, temperature: 1.2, seedBase: 2_000_000)
        let (power, critical) = ChiSquare.twoSample(plain.map { $0[1] }, hotter.map { $0[1] })
        #expect(power > critical, "the test cannot tell temperature 0.6 from 1.2")
    }

    @Test func badSpeculativeConfigsAreClearErrors() throws {
        #expect(throws: SpeculativeConfigError.invalid("unknown speculative config key 'lookahead' (known: adaptive, method, model, num_speculative_tokens, prompt_lookup_max, prompt_lookup_min, suffix_decoding_max_cached_requests, suffix_decoding_max_spec_factor, suffix_decoding_max_tree_depth, suffix_decoding_min_token_prob)")) {
            try SpeculativeConfig(json: #"{"method":"ngram","lookahead":3}"#)
        }
        #expect(throws: SpeculativeConfigError.self) { try SpeculativeConfig(json: #"{"method":"eagle"}"#) }
        #expect(throws: SpeculativeConfigError.self) { try SpeculativeConfig(json: #"{"method":"ngram","num_speculative_tokens":0}"#) }
        #expect(throws: SpeculativeConfigError.self) { try SpeculativeConfig(json: #"{"method":"draft_model"}"#) }
        let config = try SpeculativeConfig(json: #"{"method":"ngram","num_speculative_tokens":7,"prompt_lookup_min":2,"prompt_lookup_max":5}"#)
        #expect(config.numSpeculativeTokens == 7 && config.promptLookupMin == 2 && config.promptLookupMax == 5)
        // A draft that does not load, and a target without MTP layers.
        var config2 = EngineConfig(kvCacheMemory: 8 << 20)
        config2.speculative = SpeculativeConfig(method: .draftModel, model: "/nonexistent.gguf")
        #expect(throws: EngineConfigError.self) { try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config2) }
        config2.speculative = SpeculativeConfig(method: .mtp)
        #expect(throws: EngineConfigError.speculative(.noMTPLayers("qwen2"))) {
            try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config2)
        }
    }
}

/// Two-sample chi-square homogeneity test over categorical samples of equal size.
enum ChiSquare {
    /// The statistic, with cells of fewer than 10 draws in all merged, and its critical value at p = 1e-6.
    static func twoSample(_ a: [Int], _ b: [Int]) -> (Double, Double) {
        precondition(a.count == b.count)
        var counts: [Int: (Int, Int)] = [:]
        for x in a { counts[x, default: (0, 0)].0 += 1 }
        for x in b { counts[x, default: (0, 0)].1 += 1 }
        var cells: [(Int, Int)] = [], rest = (0, 0)
        for (_, c) in counts {
            if c.0 + c.1 >= 10 { cells.append(c) } else { rest.0 += c.0; rest.1 += c.1 }
        }
        if rest.0 + rest.1 > 0 { cells.append(rest) }
        let statistic = cells.reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) / Double($1.0 + $1.1) }
        let df = Double(max(1, cells.count - 1)), z = 4.753  // one-sided normal quantile of 1e-6
        let h = 2 / (9 * df)
        return (statistic, df * pow(1 - h + z * h.squareRoot(), 3))  // Wilson–Hilferty
    }
}
