@testable import Engine
import TestSupport
import Testing

/// Penalties, logit bias and min_tokens change the logits exactly as vLLM defines them, computed
/// here directly from the request's tokens.
struct LogitsProcessorTests {
    static func request(_ params: SamplingParams, prompt: [Int], output: [Int]) -> Request {
        let r = Request(requestId: "r", promptTokenIds: prompt, samplingParams: params, eosTokenIds: [62], maxModelLength: 1000, blockSize: 4)
        for t in output { r.appendOutputToken(t) }
        return r
    }

    /// vLLM's definitions: repetition penalty on every token of prompt or output (divide a
    /// positive logit, multiply a negative one); frequency (× count in the output) and presence
    /// (once) penalties on output tokens; then the bias; min_tokens masks stop and EOS ids.
    static func direct(_ logits: [Float], _ p: SamplingParams, prompt: [Int], output: [Int]) -> [Float] {
        var l = logits
        if output.count < p.minTokens {
            for id in p.stopTokenIds + [62] { l[id] = -.infinity }
        }
        for id in Set(prompt + output) {
            l[id] = l[id] > 0 ? l[id] / p.repetitionPenalty : l[id] * p.repetitionPenalty
        }
        for id in Set(output) {
            let count = output.filter { $0 == id }.count
            l[id] -= p.frequencyPenalty * Float(count) + p.presencePenalty
        }
        for (id, bias) in p.logitBias { l[id] += bias }
        return l
    }

    @Test(arguments: [
        SamplingParams(presencePenalty: 0.25),
        SamplingParams(frequencyPenalty: 0.4),
        SamplingParams(repetitionPenalty: 1.3),
        SamplingParams(logitBias: [9: 2, 3: -1.5, 7: 0.5]),
        SamplingParams(presencePenalty: -0.3, frequencyPenalty: 0.7, repetitionPenalty: 0.8, logitBias: [5: 1], minTokens: 10, stopTokenIds: [11]),
    ])
    func editsMatchTheDirectComputation(_ params: SamplingParams) {
        var rng = SeededRandom(seed: 3)
        let logits = (0..<64).map { _ in Float.random(in: -4...4, using: &rng) }
        let prompt = [3, 5, 5, 20], output = [5, 7, 7, 7, 40]
        let r = Self.request(params, prompt: prompt, output: output)
        #expect(LogitsProcessor.isNeeded(for: r))
        var got = logits
        got.withUnsafeMutableBufferPointer { LogitsProcessor.apply($0, request: r) }
        let want = Self.direct(logits, params, prompt: prompt, output: output)
        for i in 0..<64 {
            #expect(got[i] == want[i] || abs(got[i] - want[i]) <= 1e-6 * abs(want[i]), "token \(i): \(got[i]) vs \(want[i])")
        }
        // Something really changed (the check above cannot pass by editing nothing).
        #expect(got != logits)
    }

    /// Through the engine: a large bias makes greedy decoding pick that token every time.
    @Test func biasSteersGreedyDecoding() throws {
        let engine = try TinyEngine.make()
        let plain = try engine.addRequest(.tokens([1, 2, 3]), params: SamplingParams(temperature: 0, maxTokens: 6, ignoreEOS: true))
        let biased = try engine.addRequest(.tokens([1, 2, 3]), params: SamplingParams(temperature: 0, logitBias: [17: 100], maxTokens: 6, ignoreEOS: true))
        let results = engine.runToCompletion()
        #expect(results[biased]![0].tokenIds == Array(repeating: 17, count: 6))
        #expect(results[plain]![0].tokenIds != Array(repeating: 17, count: 6))
    }
}
