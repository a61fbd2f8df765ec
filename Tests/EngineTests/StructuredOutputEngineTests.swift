import Engine
import Foundation
import SpecDecode
import StructuredOutput
import Testing
import TestSupport
import Tokenization

/// Grammar-constrained decoding in the engine, on the tiny random model (its vocabulary is
/// printable ASCII without lowercase letters or braces, so the constraints keep to those).
@Suite struct StructuredOutputEngineTests {
    static let constraints: [(String, StructuredOutputsParams)] = [
        ("regex", .regex(#"[A-Z]{2,5}-[0-9]{1,3}( [A-Z]+)?"#)),
        ("grammar", .grammar("root ::= \"[\" num (\",\" num)* \"]\"\nnum ::= [1-9] [0-9]?")),
        ("choice", .choice(["ALPHA", "BETA", "GAMMA RAY"])),
        ("json", .json(schema: #"{"type":"array","items":{"type":"integer","minimum":0,"maximum":99},"minItems":1,"maxItems":4}"#)),
        ("json enum", .json(schema: #"{"type":"array","items":{"enum":["AB","CD",7]},"maxItems":3}"#)),
    ]

    static func grammar(_ constraint: StructuredOutputsParams) throws -> Grammar {
        try Grammar(StructuredOutputManager.definition(for: constraint))
    }

    /// The output's bytes, without end-of-generation tokens.
    static func bytes(_ ids: [Int]) -> [UInt8] {
        let tokenizer = TinyEngine.tokenizer
        return ids.filter { !tokenizer.vocabulary.endOfGenerationIds.contains($0) }.flatMap { tokenizer.tokenPiece($0) }
    }

    /// A finished output is a whole match; one cut by max_tokens is a prefix of one.
    static func expectFollows(_ result: CompletionResult, _ constraint: StructuredOutputsParams, _ label: String) throws {
        let grammar = try grammar(constraint)
        let text = String(decoding: bytes(result.tokenIds), as: UTF8.self)
        let matcher = GrammarMatcher(grammar: grammar)
        let prefix = matcher.accept(bytes: bytes(result.tokenIds))
        #expect(prefix, "\(label): \(text.debugDescription) leaves the grammar")
        if result.finishReason == .stop {
            #expect(matcher.canTerminate, "\(label): \(text.debugDescription) ended before the grammar did")
        }
    }

    static func run(_ prompts: [[Int]], params: (Int) -> SamplingParams, speculative: SpeculativeConfig? = nil,
                    blocks: Int = 400, budget: Int = 64) throws -> ([CompletionResult], EngineStats) {
        try SpeculativeDecodingTests.run(prompts, params: params, speculative: speculative, blocks: blocks, budget: budget)
    }

    @Test(arguments: constraints.map(\.0))
    func outputsFollowTheirGrammar(kind: String) throws {
        let constraint = Self.constraints.first { $0.0 == kind }!.1
        let prompts = SpeculativeDecodingTests.prompts(8, seed: 31)
        let params = { (i: Int) in
            SamplingParams(temperature: i % 2 == 0 ? 0 : 1.3, seed: UInt64(i), maxTokens: 40, structuredOutputs: constraint)
        }
        let (results, _) = try Self.run(prompts, params: params)
        for (i, result) in results.enumerated() { try Self.expectFollows(result, constraint, "\(kind), request \(i)") }
        #expect(results.contains { $0.finishReason == .stop }, "\(kind): no output reached the end of its grammar")
    }

    /// Constrained and free requests batched together, chunked, preempted, hitting the prefix
    /// cache and verified by speculative decoding give each greedy output of the request alone.
    @Test func greedyConstrainedOutputsAreBatchInvariant() throws {
        let shared = SpeculativeDecodingTests.prompts(1, seed: 3)[0]
        let prompts = SpeculativeDecodingTests.prompts(15, seed: 17).enumerated().map { $0.offset % 3 == 0 ? shared + $0.element : $0.element }
        let params = { (i: Int) in
            SamplingParams(temperature: 0, maxTokens: 24 + i % 7, ignoreEOS: i % 6 == 5,
                           structuredOutputs: i % 6 == 5 ? nil : Self.constraints[i % Self.constraints.count].1)
        }
        let alone = try prompts.indices.map { i in try Self.run([prompts[i]], params: { _ in params(i) }).0[0] }
        let (batched, _) = try Self.run(prompts, params: params)
        let (tight, stats) = try Self.run(prompts, params: params, blocks: 48, budget: 20)
        #expect(stats.numPreemptions > 0, "no preemption: the pool is too large for this test")
        #expect(stats.prefixCache.hits > 0)
        var ngram = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 4)
        ngram.adaptive = false
        (ngram.promptLookupMin, ngram.promptLookupMax) = (1, 4)
        let (speculated, specStats) = try Self.run(prompts, params: params, speculative: ngram)
        #expect((specStats.specDecode?.numDraftTokens ?? 0) > 0)
        for i in prompts.indices {
            #expect(batched[i].tokenIds == alone[i].tokenIds, "request \(i) batched")
            #expect(tight[i].tokenIds == alone[i].tokenIds, "request \(i) preempted and chunked")
            #expect(speculated[i].tokenIds == alone[i].tokenIds, "request \(i) with speculation")
            if let constraint = params(i).structuredOutputs { try Self.expectFollows(alone[i], constraint, "request \(i)") }
        }
    }

    /// Masks filled on the helper thread during the forward pass are the masks filled after it:
    /// greedy and seeded outputs are the same with the overlap on and off.
    @Test func maskOverlapDoesNotChangeOutputs() throws {
        let prompts = SpeculativeDecodingTests.prompts(10, seed: 53)
        func outputs(overlap: Bool) throws -> [[Int]] {
            let engine = try TinyEngine.make()
            engine.runner.overlapsGrammarMasks = overlap
            let ids = try prompts.indices.map { i in
                try engine.addRequest(.tokens(prompts[i]), params: SamplingParams(
                    temperature: i % 2 == 0 ? 0 : 1, seed: UInt64(i), maxTokens: 30,
                    structuredOutputs: Self.constraints[i % Self.constraints.count].1))
            }
            let results = engine.runToCompletion()
            #expect(TinyEngine.allBlocksFree(engine))
            return ids.map { results[$0]![0].tokenIds }
        }
        #expect(try outputs(overlap: true) == outputs(overlap: false))
    }

    /// Sampled drafts are accepted or resampled against the masked distribution, so sampled
    /// outputs with speculation follow the grammar too.
    @Test func sampledOutputsWithSpeculationFollowTheGrammar() throws {
        var ngram = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 3)
        ngram.adaptive = false
        (ngram.promptLookupMin, ngram.promptLookupMax) = (1, 4)
        let prompts = SpeculativeDecodingTests.prompts(10, seed: 41)
        for (kind, constraint) in Self.constraints {
            let (results, _) = try Self.run(prompts, params: { i in
                SamplingParams(temperature: 0.8, seed: UInt64(100 + i), maxTokens: 30, structuredOutputs: constraint)
            }, speculative: ngram)
            for (i, result) in results.enumerated() { try Self.expectFollows(result, constraint, "\(kind) sampled, request \(i)") }
        }
    }

    @Test func everyCompletionOfAnNRequestFollowsTheGrammar() throws {
        let constraint = Self.constraints[0].1
        let engine = try TinyEngine.make()
        let id = try engine.addRequest(.tokens([5, 6, 7, 8]), params: SamplingParams(n: 4, temperature: 1, seed: 9, maxTokens: 30,
                                                                                   structuredOutputs: constraint))
        let results = try #require(engine.runToCompletion()[id])
        #expect(results.count == 4)
        for (i, result) in results.enumerated() { try Self.expectFollows(result, constraint, "completion \(i)") }
        #expect(TinyEngine.allBlocksFree(engine))
    }

    /// Log-probabilities come with every constrained token (of the raw distribution, as vLLM
    /// gives them), and a stop string inside the constrained text ends it there.
    @Test func logprobsAndStopStringsCompose() throws {
        let engine = try TinyEngine.make()
        let constraint = Self.constraints[0].1
        let id = try engine.addRequest(.tokens([3, 4, 5]), params: SamplingParams(temperature: 0, maxTokens: 20, logprobs: 2,
                                                                                structuredOutputs: constraint))
        let result = try #require(engine.runToCompletion()[id]?.first)
        #expect(result.logprobs.count == result.tokenIds.count)
        #expect(result.logprobs.allSatisfy { $0.top.count == 2 || $0.top.count == 3 })
        let text = String(decoding: Self.bytes(result.tokenIds), as: UTF8.self)
        let cut = try #require(text.firstIndex(of: "-"), "\(text)")
        let stop = String(text[cut...].prefix(2))
        let stopped = try engine.addRequest(.tokens([3, 4, 5]), params: SamplingParams(temperature: 0, maxTokens: 20, stop: [stop],
                                                                                     structuredOutputs: constraint))
        let stoppedResult = try #require(engine.runToCompletion()[stopped]?.first)
        #expect(stoppedResult.text == String(text[..<cut]), "\(stoppedResult.text) vs \(text)")
        #expect(stoppedResult.finishReason == .stop)
        #expect(TinyEngine.allBlocksFree(engine))
    }

    @Test func abortingConstrainedRequestsFreesTheirBlocks() throws {
        let engine = try TinyEngine.make()
        let ids = try (0..<4).map { i in
            try engine.addRequest(.tokens([1, 2, 3, 4 + i]), params: SamplingParams(temperature: 0, maxTokens: 40, ignoreEOS: true,
                                                                                    structuredOutputs: Self.constraints[1].1))
        }
        for _ in 0..<5 { _ = engine.step() }
        for id in ids { engine.abortRequest(id) }
        #expect(!engine.hasUnfinishedRequests)
        #expect(TinyEngine.allBlocksFree(engine))
    }

    @Test func constraintsThatCannotBeEnforcedAreInputErrors() throws {
        let engine = try TinyEngine.make()
        let bad: [(StructuredOutputsParams, String)] = [
            (.json(schema: #"{"type":"object","not":{}}"#), "not"),
            (.regex("(a"), "regex"),
            (.grammar("root ::= missing"), "missing"),
            (.json(schema: "{"), "JSON"),
        ]
        for (constraint, word) in bad {
            #expect {
                try engine.addRequest(.tokens([1, 2]), params: SamplingParams(maxTokens: 4, structuredOutputs: constraint))
            } throws: { error in
                guard case .invalidStructuredOutput(let kind, let grammarError)? = error as? InputError else { return false }
                return kind == constraint.kind && "\(grammarError)".contains(word)
            }
        }
        #expect(TinyEngine.allBlocksFree(engine))
    }
}
