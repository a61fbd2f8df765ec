import TestSupport
import Foundation
import GGUF
import CKernels
import Kernels
import Models
import Testing

/// The real default model against llama.cpp's own outputs (see ../shared/golden/README.md).
@Suite(.serialized) struct GoldenModelTests {
    struct Step: Decodable { let id: Int; let logprob: Double; let top5: [Top] }
    struct Top: Decodable { let id: Int; let logprob: Double }
    struct Completion: Decodable {
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let steps: [Step]
    }

    static let model: any CausalLM = {
        let file = try! GGUFFile(path: TestPaths.defaultModel)
        return try! ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: 2))
    }()

    func load(_ url: URL) throws -> Completion {
        try JSONDecoder().decode(Completion.self, from: Data(contentsOf: url))
    }

    /// Runs `tokens` as one sequence from position `start` and returns log-softmax rows for
    /// `wanted` indices. `cache` holds one contiguous run of blocks per KV cache group.
    static func logProbs(_ model: any CausalLM, cache: KVCache, tokens: [Int], start: Int = 0, wanted: [Int]) -> [[Float]] {
        var batch = ForwardBatch()
        let layout = model.kvCacheLayout, blocks = cache.numBlocks / layout.numGroups
        batch.removeAll(blockTableStride: blocks, groups: layout.numGroups)
        let seq = batch.addSequence(blockTables: layout.contiguousBlockTables(sequence: 0, blocks: blocks))
        for (i, id) in tokens.enumerated() {
            let pos = start + i
            batch.addToken(Int32(id), position: Int32(pos), sequence: seq, wantsLogits: wanted.contains(i))
        }
        let logits = model.forward(batch, cache: cache, workspace: ForwardWorkspace())
        let v = model.config.vocabSize
        return (0..<wanted.count).map { r in
            let row = Array(logits[(r * v)..<((r + 1) * v)])
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return row.map { $0 - lse }
        }
    }

    /// On every instruction-set path of the matrix kernels this CPU has.
    @Test(arguments: InstructionSets.available)
    func teacherForcedLogProbsAreClose(isa: pg_isa) throws {
        try InstructionSets.with(isa) { try teacherForcedLogProbsAreClose(isaName: "\(isa.rawValue)") }
    }

    func teacherForcedLogProbsAreClose(isaName: String) throws {
        let model = Self.model
        let cache = model.makeKVCache(numBlocks: 8, blockSize: 16)
        var deltas: [Double] = []
        for url in try TestPaths.goldenFiles("completions") {
            let g = try load(url)
            let tokens = g.prompt_ids + g.generated_ids
            let wanted = Array((g.prompt_ids.count - 1)..<(tokens.count - 1))
            let rows = Self.logProbs(model, cache: cache, tokens: tokens, wanted: wanted)
            for (i, step) in g.steps.enumerated() {
                deltas.append(abs(Double(rows[i][step.id]) - step.logprob))
            }
        }
        deltas.sort()
        let median = deltas[deltas.count / 2], maximum = deltas.last!
        print("teacher-forced |Δ logprob| (ISA \(isaName)) over \(deltas.count) steps: median \(median), max \(maximum)")
        #expect(median <= 0.03)
        #expect(maximum <= 0.35)
    }

    /// Greedy decoding of `count` tokens after `prompt`, one forward pass per token.
    static func greedy(_ model: any CausalLM, cache: KVCache, prompt: [Int], count: Int) -> [Int] {
        var generated: [Int] = []
        var rows = logProbs(model, cache: cache, tokens: prompt, wanted: [prompt.count - 1])
        for step in 0..<count {
            let next = rows[0].indices.max { rows[0][$0] < rows[0][$1] }!
            generated.append(next)
            if step + 1 < count { rows = logProbs(model, cache: cache, tokens: [next], start: prompt.count + step, wanted: [0]) }
        }
        return generated
    }

    @Test func greedyMatchesUpToFirstNearTie() throws {
        let cache = Self.model.makeKVCache(numBlocks: 8, blockSize: 16)
        for url in try TestPaths.goldenFiles("completions") {
            let g = try load(url)
            let firstTie = g.steps.firstIndex { $0.top5[0].logprob - $0.top5[1].logprob < 0.35 } ?? g.steps.count
            let generated = Self.greedy(Self.model, cache: cache, prompt: g.prompt_ids, count: firstTie)
            #expect(generated == Array(g.generated_ids.prefix(firstTie)), "\(url.lastPathComponent): diverged before the first near tie at \(firstTie)")
        }
    }
}
