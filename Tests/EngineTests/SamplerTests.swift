import TestSupport
import Engine
import Foundation
import Testing

struct SamplerTests {
    func frequencies(_ logits: [Float], _ params: SamplingParams, draws: Int = 20_000, seed: UInt64 = 1) -> [Int: Double] {
        var sampler = Sampler()
        var rng = RandomGenerator(seed: seed)
        var counts: [Int: Int] = [:]
        logits.withUnsafeBufferPointer { row in
            for _ in 0..<draws { counts[sampler.sample(row, params: params, rng: &rng), default: 0] += 1 }
        }
        return counts.mapValues { Double($0) / Double(draws) }
    }

    let probs: [Float] = [0.5, 0.3, 0.2]
    var logits: [Float] { probs.map { log($0) } }

    @Test func greedyAndTopKOneTakeTheArgmax() {
        let row: [Float] = [0.1, 3, 3, -1]
        row.withUnsafeBufferPointer { #expect(Sampler.argmax($0) == 1) }
        #expect(frequencies(row, SamplingParams(temperature: 0), draws: 10) == [1: 1])
        #expect(frequencies(row, SamplingParams(temperature: 5, topK: 1), draws: 10) == [1: 1])
    }

    /// Logits from NaN or infinite weights (a broken or hostile file) never crash sampling, under
    /// any combination of settings: every draw is a token id (top-p alone once trapped on them).
    @Test func nonFiniteLogitsNeverCrash() {
        let rows: [[Float]] = [[.nan, .nan, .nan, .nan], [1, .nan, 2, .infinity], [-.infinity, -.infinity, 0, 1],
                               [.infinity, .infinity, -.infinity, .nan], Array(repeating: -.infinity, count: 70) + [.nan]]
        let settings = [SamplingParams(temperature: 0), SamplingParams(temperature: 1), SamplingParams(temperature: 0.7, topP: 0.9),
                        SamplingParams(temperature: 1, minP: 0.1), SamplingParams(temperature: 1, topK: 2),
                        SamplingParams(temperature: 1, topK: 3, topP: 0.5, minP: 0.05)]
        for row in rows {
            for params in settings {
                for token in frequencies(row, params, draws: 50).keys { #expect((0..<row.count).contains(token), "\(row) \(params)") }
            }
        }
    }

    @Test func temperatureOneFollowsTheSoftmax() {
        let f = frequencies(logits, SamplingParams(temperature: 1))
        for (i, p) in probs.enumerated() { #expect(abs(f[i, default: 0] - Double(p)) < 0.015) }
    }

    @Test func topKTopPAndMinPTruncate() {
        let k = frequencies(logits, SamplingParams(temperature: 1, topK: 2))
        #expect(k[2] == nil && abs(k[0, default: 0] - 0.625) < 0.015)
        let p = frequencies(logits, SamplingParams(temperature: 1, topP: 0.6))
        #expect(p[2] == nil && abs(p[0, default: 0] - 0.625) < 0.015)
        let minP = frequencies(logits, SamplingParams(temperature: 1, minP: 0.5))
        #expect(minP[2] == nil && abs(minP[1, default: 0] - 0.375) < 0.015)
        let low = frequencies(logits, SamplingParams(temperature: 0.25))
        #expect(low[0, default: 0] > 0.85)
    }

    /// A 262,144-token vocabulary (Gemma's): top-p and min-p draw only from the exact set a full
    /// sort gives, computed here directly.
    @Test(arguments: [(topP: Float(0.9), minP: Float(0)), (topP: 1, minP: 0.02), (topP: 0.5, minP: 0.01)])
    func nucleusOnALargeVocabularyIsTheExactSet(_ setting: (topP: Float, minP: Float)) {
        var rng = SeededRandom(seed: 11)
        let logits = (0..<262_144).map { i in i % 997 == 0 ? Float.random(in: 0...5, using: &rng) : Float.random(in: -9...0, using: &rng) }
        let m = logits.max()!
        let weights = logits.map { Double(expf($0 - m)) }
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let total = weights.reduce(0, +)
        var nucleus: Set<Int> = [], mass = 0.0
        for i in order {
            if setting.topP < 1 && mass >= Double(setting.topP) * total { break }
            nucleus.insert(i)
            mass += weights[i]
        }
        let allowed = nucleus.filter { weights[$0] >= Double(setting.minP) }
        let f = frequencies(logits, SamplingParams(temperature: 1, topK: 0, topP: setting.topP, minP: setting.minP), draws: 1000)
        #expect(Set(f.keys).isSubset(of: allowed), "\(Set(f.keys).subtracting(allowed).prefix(5))")
        #expect(f.count > min(allowed.count, 1000) / 4)
    }

    @Test func nucleusLargerThanTheFirstGuessIsExact() {
        // 1,000 equal logits: top-p 0.5 keeps exactly the first 500 (ties break by id).
        let flat = [Float](repeating: 0, count: 1000)
        let f = frequencies(flat, SamplingParams(temperature: 1, topP: 0.5), draws: 5000)
        #expect(f.keys.allSatisfy { $0 < 500 })
        #expect(f.count > 400)
    }

    @Test func seededSamplingReproduces() {
        let row: [Float] = (0..<300).map { Float(($0 * 37) % 101) / 10 }
        let a = frequencies(row, SamplingParams(temperature: 1.3, topK: 50, topP: 0.9), draws: 500, seed: 9)
        let b = frequencies(row, SamplingParams(temperature: 1.3, topK: 50, topP: 0.9), draws: 500, seed: 9)
        #expect(a == b)
    }

    @Test func invalidParametersNameTheField() {
        #expect(throws: SamplingParamsError.self) { try SamplingParams(temperature: -1).validate() }
        #expect { try SamplingParams(topP: 0).validate() } throws: { "\($0)".contains("top_p") }
        #expect { try SamplingParams(minP: 2).validate() } throws: { "\($0)".contains("min_p") }
        #expect { try SamplingParams(maxTokens: 0).validate() } throws: { "\($0)".contains("max_tokens") }
        #expect { try SamplingParams(temperature: .nan).validate() } throws: { "\($0)".contains("temperature") }
    }
}
