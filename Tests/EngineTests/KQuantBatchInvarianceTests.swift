import Engine
import GGUF
import Models
import SpecDecode
import TestSupport
import Testing
import Tokenization

/// K-quant products (Q4_K, Q6_K) take a 16-rows-a-vector form on AVX-512 for steps of more than
/// four tokens and the row tiles for fewer; both must give a token the same bits. On Gemma 3 they
/// once did not, and its greedy output changed with speculation. A tiny model whose every
/// projection is a K-quant (256 wide, the super-block) runs requests together (chunked prefill,
/// verification steps of five tokens) and alone (prompts in one pass, then single-token steps):
/// the greedy outputs and the chosen tokens' log-probabilities must be the same to the bit (a
/// tiny model's argmax survives a last-bit change that a real model's, sometimes, does not).
@Suite(.serialized) struct KQuantBatchInvarianceTests {
    static func model(_ type: GGMLType) throws -> (any CausalLM, Tokenizer) {
        var spec = TinyModel(architecture: "llama", hidden: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 2, contextLength: 4096,
                             matrixType: type, seed: 31)
        spec.feedForward = 512
        let file = try GGUFFile(bytes: spec.write())
        return (try ModelArchitectures.load(file: file, pool: TinyEngine.pool), try Tokenizer(metadata: file.metadata))
    }

    /// Prompts that repeat a short random phrase, so that n-gram lookup proposes drafts.
    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 32)
        return (0..<8).map { i in
            let phrase = (0..<(3 + i % 4)).map { _ in Int.random(in: 1..<60, using: &rng) }
            return Array(repeating: phrase, count: 2 + i % 3).flatMap { $0 } + [Int.random(in: 1..<60, using: &rng)]
        }
    }

    static func run(_ prompts: [[Int]], _ model: any CausalLM, _ tokenizer: Tokenizer, budget: Int,
                    speculative: SpeculativeConfig?) throws -> ([[TokenLogprobs]], EngineStats) {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: 8), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 256, blockSize: 4, model: model))
        config.speculative = speculative
        let engine = try LLMEngine(model: model, tokenizer: tokenizer, config: config)
        let params = SamplingParams(temperature: 0, maxTokens: 24, ignoreEOS: true, logprobs: 2)
        let ids = try prompts.map { try engine.addRequest(.tokens($0), params: params) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        return (ids.map { results[$0]![0].logprobs }, engine.stats)
    }

    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func greedyOutputsMatchRunningAlone(_ type: GGMLType) throws {
        let (model, tokenizer) = try Self.model(type)
        let prompts = Self.prompts()
        let alone = try prompts.map { try Self.run([$0], model, tokenizer, budget: 512, speculative: nil).0[0] }
        var speculative = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 4)
        speculative.adaptive = false
        speculative.promptLookupMin = 1
        let (together, stats) = try Self.run(prompts, model, tokenizer, budget: 24, speculative: speculative)
        for i in prompts.indices {
            let difference = together[i].indices.first { $0 < alone[i].count && together[i][$0] != alone[i][$0] }
            #expect(together[i].count == alone[i].count && difference == nil,
                    "\(type), request \(i): first difference at generated token \(difference ?? min(together[i].count, alone[i].count))")
        }
        let spec = try #require(stats.specDecode)
        #expect(spec.numDraftTokens > 0)
    }
}
