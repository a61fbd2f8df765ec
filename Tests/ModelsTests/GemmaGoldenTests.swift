import CKernels
import Foundation
import GGUF
import Kernels
import Models
import TestSupport
import Testing
import Tokenization

/// Gemma 3 270M (Q4_K_M: mostly Q5_0, sliding-window attention) against llama.cpp's own outputs
/// in ../shared/golden/gemma3 (same closeness rules as the default model), and a prompt longer
/// than the window against llama.cpp run on the same file (Tests/ModelsTests/Fixtures).
@Suite(.serialized) struct GemmaGoldenTests {
    struct Probability: Decodable { let id: Int; let logprob: Double; let top_logprobs: [Top] }
    struct Top: Decodable { let id: Int; let logprob: Double }
    struct ServerCompletion: Decodable { let completion_probabilities: [Probability] }
    struct TokenizeCase: Decodable {
        struct Request: Decodable { let content: String; let add_special: Bool }
        struct Response: Decodable { let tokens: [Int] }
        let request: Request
        let response: Response
    }
    /// A golden continuation: prompt ids, then per generated position the chosen id and its top 5.
    struct Golden {
        var name: String
        var promptIds: [Int]
        var steps: [Probability]
        var generated: [Int] { steps.map(\.id) }
    }

    static let file = try! GGUFFile(path: TestPaths.gemmaModel)
    static let model = try! ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: 2))
    static let tokenizer = try! Tokenizer(metadata: file.metadata)

    static func tokenizeCases(_ name: String) throws -> [TokenizeCase] {
        let url = TestPaths.golden.appendingPathComponent("gemma3/tokenize/\(name).json")
        return Array(try JSONDecoder().decode([String: TokenizeCase].self, from: Data(contentsOf: url)).values)
    }

    /// llama-server's completions, with their prompt ids from the tokenize goldens of the same name.
    static func goldens() throws -> [Golden] {
        try TestPaths.goldenFiles("gemma3/completions").map { url in
            let name = url.deletingPathExtension().lastPathComponent
            let completion = try JSONDecoder().decode(ServerCompletion.self, from: Data(contentsOf: url))
            let prompt = try #require(try tokenizeCases(name).first { $0.request.add_special }).response.tokens
            return Golden(name: name, promptIds: prompt, steps: completion.completion_probabilities)
        } + [longPrompt()]
    }

    /// The long-prompt fixture: llama.cpp (through llama-cpp-python) on this file.
    static func longPrompt() throws -> Golden {
        struct Fixture: Decodable { let prompt_ids: [Int]; let steps: [Step] }
        struct Step: Decodable { let id: Int; let logprob: Double; let top5: [Top] }
        let url = TestPaths.packageRoot.appendingPathComponent("Tests/ModelsTests/Fixtures/gemma3_long_prompt.json")
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        return Golden(name: "long prompt (\(f.prompt_ids.count) tokens)", promptIds: f.prompt_ids,
                      steps: f.steps.map { Probability(id: $0.id, logprob: $0.logprob, top_logprobs: $0.top5) })
    }

    static func cache() -> KVCache {
        model.makeKVCache(numBlocks: model.kvCacheLayout.contiguousBlockCount(sequences: 1, blocks: 100), blockSize: 16)
    }

    @Test func layerPatternIsFiveSlidingToOneGlobal() {
        let c = Self.model.config
        #expect(c.architecture == "gemma3" && c.numLayers == 18 && c.vocabSize == 262_144)
        #expect(c.layerTypes.enumerated().allSatisfy { ($0.offset + 1) % 6 == 0 ? $0.element == .full : $0.element == .slidingWindow(512) })
        #expect(c.ropeBase == 1_000_000 && c.ropeBaseSliding == 10_000)
    }

    @Test func tokenizerMatchesLlamaCpp() throws {
        let files = try TestPaths.goldenFiles("gemma3/tokenize")
        for url in files {
            for c in try Self.tokenizeCases(url.deletingPathExtension().lastPathComponent) {
                #expect(Self.tokenizer.encode(c.request.content, addSpecial: c.request.add_special) == c.response.tokens,
                        "\(url.lastPathComponent), add_special \(c.request.add_special)")
            }
        }
    }

    /// On every instruction-set path of the matrix kernels this CPU has.
    @Test(arguments: InstructionSets.available)
    func teacherForcedLogProbsAreClose(isa: pg_isa) throws {
        try InstructionSets.with(isa) {
            let cache = Self.cache()
            var deltas: [Double] = []
            for g in try Self.goldens() {
                let tokens = g.promptIds + g.generated
                let wanted = Array((g.promptIds.count - 1)..<(tokens.count - 1))
                let rows = GoldenModelTests.logProbs(Self.model, cache: cache, tokens: tokens, wanted: wanted)
                for (i, step) in g.steps.enumerated() { deltas.append(abs(Double(rows[i][step.id]) - step.logprob)) }
            }
            deltas.sort()
            let median = deltas[deltas.count / 2], maximum = deltas.last!
            print("gemma3 teacher-forced |Δ logprob| (ISA \(isa.rawValue)) over \(deltas.count) steps: median \(median), max \(maximum)")
            #expect(median <= 0.03)
            #expect(maximum <= 0.35)
        }
    }

    /// Every matrix type of the file (Q4_K, Q5_0, Q6_K, Q8_0) gives a token the same bits alone
    /// as among others: a prompt's logits one token a pass (decode), in passes of 6 (a
    /// verification step of 5 drafts) and in one pass (prefill) are identical, so greedy output
    /// does not depend on batching, chunking or speculation.
    @Test func logitsAreTheSameBitsInEveryPassSize() throws {
        let tokens = Array(try Self.longPrompt().promptIds.prefix(24))
        let v = Self.model.config.vocabSize
        let oneByOne = ReferenceModelTests.ourLogits(Self.model, tokens: tokens, chunk: 1, blockSize: 16)
        for chunk in [6, Int.max] {
            let got = ReferenceModelTests.ourLogits(Self.model, tokens: tokens, chunk: chunk, blockSize: 16)
            let differing = (0..<tokens.count).filter { t in got[(t * v)..<((t + 1) * v)] != oneByOne[(t * v)..<((t + 1) * v)] }
            #expect(differing.isEmpty, "passes of \(chunk): rows \(differing.prefix(5))")
        }
    }

    /// Greedy decoding, token by token, reproduces llama.cpp up to its first near tie; the long
    /// prompt crosses the 512-token window, so the sliding layers really slide.
    @Test func greedyMatchesUpToFirstNearTie() throws {
        let cache = Self.cache()
        for g in try Self.goldens() {
            let firstTie = g.steps.firstIndex { $0.top_logprobs[0].logprob - $0.top_logprobs[1].logprob < 0.35 } ?? g.steps.count
            let generated = GoldenModelTests.greedy(Self.model, cache: cache, prompt: g.promptIds, count: firstTie)
            print("gemma3 \(g.name): \(firstTie) greedy tokens before the first near tie")
            #expect(generated == Array(g.generated.prefix(firstTie)), "\(g.name): diverged before the first near tie at \(firstTie)")
        }
    }
}
