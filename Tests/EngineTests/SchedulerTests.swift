import Engine
import Foundation
import TestSupport
import Testing

/// The engine loop on a tiny model: random schedules, preemption, prefix hits, chunked prefill.
@Suite(.serialized) struct SchedulerTests {
    /// Random mixes of requests (random lengths, shared prefixes, n > 1, aborts) on small KV pools
    /// and budgets: afterwards every block is free, and each greedy request produced what it
    /// produces alone.
    /// On a tiny model of each architecture on the seam (gemma3's with a hybrid KV cache; two MoE models).
    @Test(arguments: [("qwen2", 40), ("llama", 12), ("qwen3", 12), ("gemma3", 24), ("qwen3moe", 12), ("qwen2moe q4_1", 12)])
    func randomSchedulesAreBatchInvariantAndLeaveNoBlocks(_ architecture: String, rounds: Int) throws {
        let model = try #require(TinyEngine.architectures[architecture])
        var rng = SeededRandom(seed: 5)
        var totalPreemptions = 0, totalHits = 0
        for round in 0..<rounds {
            let blockSize = [2, 4, 8].randomElement(using: &rng)!
            // A hybrid model holds a block table per group (its five sliding ones only the window),
            // so its pools are scaled up, still small enough to preempt.
            let scale = max(1, model.kvCacheLayout.numGroups / 2)
            let engine = try TinyEngine.make(blocks: scale * Int.random(in: 24...80, using: &rng), blockSize: blockSize,
                                             budget: Int.random(in: 8...64, using: &rng), maxSeqs: Int.random(in: 2...12, using: &rng),
                                             caching: round % 4 != 3, policy: round % 2 == 0 ? .fcfs : .priority, model: model)
            let prefixes = (0..<2).map { _ in (0..<Int.random(in: 4...24, using: &rng)).map { _ in Int.random(in: 0..<62, using: &rng) } }
            var expected: [String: [Int]] = [:]
            var completions: [String: Int] = [:]
            var aborted = Set<String>()
            for i in 0..<Int.random(in: 3...10, using: &rng) {
                var prompt = Bool.random(using: &rng) ? prefixes.randomElement(using: &rng)! : []
                prompt += (0..<Int.random(in: 1...20, using: &rng)).map { _ in Int.random(in: 0..<62, using: &rng) }
                let maxTokens = Int.random(in: 1...12, using: &rng)
                var params = SamplingParams.greedy(maxTokens: maxTokens)
                params.ignoreEOS = true
                if i % 4 == 3 { params.n = 2 }
                let id = try engine.addRequest(.tokens(prompt), params: params, priority: Int.random(in: 0...3, using: &rng))
                completions[id] = params.n
                var p = SamplingParams.greedy(maxTokens: maxTokens)
                p.ignoreEOS = true
                let e = try TinyEngine.make(blocks: 400 * scale, blockSize: blockSize, budget: 512, maxSeqs: 1, model: model)
                let soloId = try e.addRequest(.tokens(prompt), params: p)
                expected[id] = e.runToCompletion()[soloId]![0].tokenIds
            }
            var results: [String: [Int: CompletionResult]] = [:]
            var steps = 0
            while engine.hasUnfinishedRequests {
                steps += 1
                if steps == 3, let victim = expected.keys.sorted().first, Bool.random(using: &rng) {
                    aborted.insert(victim)
                    for o in engine.abortRequest(victim) {
                        for piece in o.outputs { results[o.requestId, default: [:]][piece.index, default: CompletionResult(index: piece.index)].append(piece) }
                    }
                }
                for o in engine.step() {
                    for piece in o.outputs { results[o.requestId, default: [:]][piece.index, default: CompletionResult(index: piece.index)].append(piece) }
                }
                #expect(steps < 10_000)
            }
            for (id, want) in expected {
                if aborted.contains(id) {
                    for (_, got) in results[id] ?? [:] { #expect(got.tokenIds == Array(want.prefix(got.tokenIds.count))) }
                    continue
                }
                // Every completion of every request that was not aborted, whether or not it produced output.
                #expect(Set((results[id] ?? [:]).keys) == Set(0..<completions[id]!), "round \(round) request \(id)")
                for index in 0..<completions[id]! {
                    let got = results[id]?[index]
                    #expect(got?.tokenIds == want, "round \(round) request \(id) completion \(index)")
                    #expect(got?.finishReason == .length)
                }
            }
            #expect(TinyEngine.allBlocksFree(engine), "round \(round)")
            totalPreemptions += engine.stats.numPreemptions
            totalHits += engine.stats.prefixCache.hits
        }
        // The random mixes did exercise preemption and prefix hits.
        #expect(totalPreemptions > 0)
        #expect(totalHits > 0)
    }

    @Test func chunkedPrefillSpreadsALongPromptOverSteps() throws {
        let engine = try TinyEngine.make(blocks: 100, blockSize: 4, budget: 16, maxSeqs: 4)
        let prompt = (0..<50).map { $0 % 60 }
        _ = try engine.addRequest(.tokens(prompt), params: .greedy(maxTokens: 2))
        let decode = try engine.addRequest(.tokens([1, 2]), params: .greedy(maxTokens: 6))
        var promptTokensPerStep: [Int] = []
        while engine.hasUnfinishedRequests {
            let before = engine.stats.prefilledTokens
            _ = engine.step()
            promptTokensPerStep.append(engine.stats.prefilledTokens - before)
        }
        // 50 + 2 prompt tokens, 16 a step, first come first served: the long prompt takes three
        // full steps, then its last 2 tokens share the fourth with the short prompt's 2.
        #expect(promptTokensPerStep.filter { $0 > 0 } == [16, 16, 16, 4])
        #expect(promptTokensPerStep.prefix(4).allSatisfy { $0 > 0 })
        _ = decode
    }

    @Test func priorityPolicyRunsTheMostImportantFirst() throws {
        let engine = try TinyEngine.make(blocks: 100, blockSize: 4, budget: 64, maxSeqs: 1, policy: .priority)
        let low = try engine.addRequest(.tokens([1, 2, 3]), params: .greedy(maxTokens: 2), priority: 5)
        let high = try engine.addRequest(.tokens([4, 5, 6]), params: .greedy(maxTokens: 2), priority: 0)
        var order: [String] = []
        while engine.hasUnfinishedRequests {
            for o in engine.step() where o.finished { order.append(o.requestId) }
        }
        #expect(order == [high, low])
    }

    @Test func prefixHitsSkipComputation() throws {
        let engine = try TinyEngine.make(blocks: 100, blockSize: 4, budget: 256, maxSeqs: 4)
        let prompt = Array(0..<30)
        let first = try engine.addRequest(.tokens(prompt), params: .greedy(maxTokens: 3))
        let a = engine.runToCompletion()[first]![0]
        let second = try engine.addRequest(.tokens(prompt), params: .greedy(maxTokens: 3))
        var cached = -1
        var b = CompletionResult(index: 0)
        while engine.hasUnfinishedRequests {
            for o in engine.step() {
                if cached < 0 { cached = o.numCachedTokens }
                o.outputs.forEach { b.append($0) }
            }
        }
        _ = second
        // 30 tokens in blocks of 4: 7 full blocks hit (the last token is always recomputed).
        #expect(cached == 28)
        #expect(a.tokenIds == b.tokenIds)
        #expect(TinyEngine.allBlocksFree(engine))
    }
}
