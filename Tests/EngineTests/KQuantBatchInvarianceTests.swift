import Engine
import GGUF
import Models
import SpecDecode
import TestSupport
import Testing

/// K-quant products (Q4_K, Q6_K) take a 16-rows-a-vector form on AVX-512 for steps of more than
/// four tokens and the row tiles for fewer; both must give a token the same bits. On Gemma 3 they
/// once did not, and its greedy output changed with speculation. A tiny model whose every
/// projection is a K-quant (256 wide, the super-block) runs requests together (chunked prefill,
/// verification steps of five tokens) and alone (prompts in one pass, then single-token steps):
/// the greedy outputs and the chosen tokens' log-probabilities must be the same to the bit (a
/// tiny model's argmax survives a last-bit change that a real model's, sometimes, does not).
@Suite(.serialized) struct KQuantBatchInvarianceTests {
    static func model(_ type: GGMLType) throws -> any CausalLM {
        var spec = TinyModel(architecture: "llama", hidden: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 2, contextLength: 4096,
                             matrixType: type, seed: 31)
        spec.feedForward = 512
        return try ModelArchitectures.load(file: GGUFFile(bytes: spec.write()), pool: TinyEngine.pool)
    }

    /// Prompts that repeat a short random phrase, so that n-gram lookup proposes drafts.
    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 32)
        return (0..<8).map { i in
            let phrase = (0..<(3 + i % 4)).map { _ in Int.random(in: 1..<60, using: &rng) }
            return Array(repeating: phrase, count: 2 + i % 3).flatMap { $0 } + [Int.random(in: 1..<60, using: &rng)]
        }
    }

    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func greedyOutputsMatchRunningAlone(_ type: GGMLType) throws {
        let model = try Self.model(type)
        let prompts = Self.prompts()
        let params = { (_: Int) in SamplingParams(temperature: 0, maxTokens: 24, ignoreEOS: true, logprobs: 2) }
        let alone = try prompts.map {
            try SpeculativeDecodingTests.run([$0], params: params, speculative: nil, blocks: 256, budget: 512, model: model).0[0].logprobs
        }
        var speculative = SpeculativeConfig(method: .ngram, numSpeculativeTokens: 4)
        speculative.adaptive = false
        speculative.promptLookupMin = 1
        let (results, stats) = try SpeculativeDecodingTests.run(prompts, params: params, speculative: speculative, blocks: 256, budget: 24,
                                                                model: model)
        let together = results.map(\.logprobs)
        for i in prompts.indices {
            let difference = together[i].indices.first { $0 < alone[i].count && together[i][$0] != alone[i][$0] }
            #expect(together[i].count == alone[i].count && difference == nil,
                    "\(type), request \(i): first difference at generated token \(difference ?? min(together[i].count, alone[i].count))")
        }
        let spec = try #require(stats.specDecode)
        #expect(spec.numDraftTokens > 0)
    }
}
