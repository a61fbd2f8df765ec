import ArgumentParser
import Dispatch
import Engine
import Foundation
import StructuredOutput

/// Structured output's costs: grammar compile times over a corpus of real-world schemas, the
/// mask time per token against the decode step, and constrained against free generation.
struct StructuredBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "structured",
        abstract: "Structured output: schema compile times, mask time per token vs the decode step, constrained vs free throughput.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions

    @Option(help: "JSON Lines of {\"name\", \"schema\"} objects to compile.")
    var schemas = "Benchmarks/structured/schemas.jsonl"

    @Option(help: "Comma-separated numbers of concurrent requests.")
    var batchSizes = "1,16"

    @Option(help: "Generated tokens per request.")
    var outputLen = 128

    @Option(help: "Rounds of free and constrained runs, interleaved, per batch size.")
    var rounds = 3

    @Flag(help: "Fill grammar masks after the forward pass instead of during it.")
    var noMaskOverlap = false

    @Option(help: "Instead of the runs: time the mask at every token of this JSON document under --schema-file (cold, then warm), the way other grammar engines are timed on a fixed output.")
    var document: String?

    @Option(help: "The JSON Schema for --document.")
    var schemaFile: String?

    @Option(help: "Write each compiled schema's sampled instance as JSON Lines of {\"name\", \"schema\", \"tokens\"} (to time other grammar engines on the same outputs).")
    var samplesOut: String?

    /// A schema whose instances run past --output-len tokens (so both runs generate the same count).
    static let people = #"{"type":"array","minItems":40,"items":{"type":"object","properties":{"name":{"type":"string","maxLength":24},"age":{"type":"integer","minimum":0,"maximum":120},"email":{"type":"string","format":"email"}},"required":["name","age","email"],"additionalProperties":false}}"#

    func run() throws {
        let loaded = try LoadedModel(modelOptions, showProgress: false)
        if let document { return try documentMasks(loaded, document: document) }
        try compileTimes(loaded)
        for batch in batchSizes.split(separator: ",").compactMap({ Int($0) }) {
            try generation(loaded, batch: batch)
        }
    }

    private func compileTimes(_ loaded: LoadedModel) throws {
        guard let data = FileManager.default.contents(atPath: schemas) else { throw ValidationError("cannot read \(schemas)") }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { !$0.isEmpty }
        let manager = StructuredOutputManager(tokenizer: loaded.tokenizer)
        _ = manager.tokenizerInfo
        var times: [Double] = [], cached: [Double] = [], firstUse: [Double] = [], warmMasks: [Double] = [], failed: [String] = []
        var samples: [String] = []
        for line in lines {
            let entry = try JSONValue(parsing: Data(line.utf8))
            guard let schema = entry["schema"] else { continue }
            let name = entry["name"]?.stringValue ?? "?"
            let params = StructuredOutputsParams.json(schema: schema.serialized())
            let start = DispatchTime.now().uptimeNanoseconds
            let compiled: CompiledGrammar
            do {
                compiled = try manager.compile(params)
            } catch {
                failed.append("\(name): \(error)")
                continue
            }
            let compileMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            times.append(compileMilliseconds)
            let again = DispatchTime.now().uptimeNanoseconds
            _ = try manager.compile(params)
            cached.append(Double(DispatchTime.now().uptimeNanoseconds - again) / 1e6)
            // The first request's whole cost: the compile plus every mask filled on first sight
            // along one instance (a seeded random one, up to about 1 KiB, that the model's
            // vocabulary can spell: SmolLM2 has no token for the bytes F1 and F2, for one).
            var tokens: [Int] = []
            for seed in UInt64(1)...64 {
                var sampler = GrammarSampler(grammar: compiled.grammar, seed: seed)
                let text = String(decoding: sampler.sample(maxBytes: 1024), as: UTF8.self)
                tokens = loaded.tokenizer.encode(text, addSpecial: false)
                if loaded.tokenizer.decode(tokens) == text { break }
                tokens = []
            }
            guard !tokens.isEmpty else {
                failed.append("\(name): no sampled instance the vocabulary can spell")
                continue
            }
            let result = try GrammarBenchmark.run(compiled, tokens: tokens)
            firstUse.append(compileMilliseconds + result.cold.meanMicroseconds * Double(result.masks) / 1000)
            warmMasks += result.warmMicroseconds
            samples.append(JSONValue.object([("name", .string(name)), ("schema", schema), ("tokens", .array(tokens.map { .number(Double($0)) }))]).serialized())
        }
        func percentiles(_ values: [Double]) -> (Double, Double, Double) {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return (.nan, .nan, .nan) }
            return (sorted[sorted.count / 2], sorted[sorted.count * 9 / 10], sorted.last!)
        }
        let (median, p90, maximum) = percentiles(times), (firstMedian, firstP90, firstMax) = percentiles(firstUse)
        Terminal.stdout(String(format: "compile: %d of %d schemas compiled; %.2f ms median, %.2f ms p90, %.2f ms max; cached lookup %.4f ms median\n",
                               times.count, lines.count, median, p90, maximum, percentiles(cached).0))
        Terminal.stdout(String(format: "first use (compile + every mask filled on first sight along a sampled instance): %.2f ms median, %.2f ms p90, %.2f ms max\n",
                               firstMedian, firstP90, firstMax))
        let sortedMasks = warmMasks.sorted()
        if !sortedMasks.isEmpty {
            Terminal.stdout(String(format: "warm masks along the same instances: p50 %.1f µs, p99 %.1f µs over %d masks\n",
                                   sortedMasks[sortedMasks.count / 2], sortedMasks[sortedMasks.count * 99 / 100], sortedMasks.count))
        }
        if let samplesOut {
            try (samples.joined(separator: "\n") + "\n").write(toFile: samplesOut, atomically: true, encoding: .utf8)
        }
        for f in failed { Terminal.stdout("  not compiled: \(f)\n") }
    }

    private func documentMasks(_ loaded: LoadedModel, document: String) throws {
        guard let schemaFile, let schema = FileManager.default.contents(atPath: schemaFile),
              let text = FileManager.default.contents(atPath: document) else {
            throw ValidationError("--document needs a readable file and --schema-file a readable schema")
        }
        let manager = StructuredOutputManager(tokenizer: loaded.tokenizer)
        let compiled = try manager.compile(.json(schema: String(decoding: schema, as: UTF8.self)))
        let tokens = loaded.tokenizer.encode(String(decoding: text, as: UTF8.self), addSpecial: false)
        let result = try GrammarBenchmark.run(compiled, tokens: tokens)
        for (name, t) in [("cold", result.cold), ("warm", result.warm)] {
            Terminal.stdout(String(format: "%@: %d masks over %d tokens: p50 %.1f µs, p99 %.1f µs, mean %.1f µs, max %.1f µs; accept %.1f µs per token\n",
                                   name, result.masks, result.vocabSize, t.p50Microseconds, t.p99Microseconds, t.meanMicroseconds,
                                   t.maxMicroseconds, t.acceptMeanMicroseconds))
        }
        let cache = result.cache
        Terminal.stdout(String(format: "cold total %.1f ms; cache: %d contexts, %d uncertain tokens, %d distinct suffixes, %.1f MiB\n",
                               result.cold.meanMicroseconds * Double(result.masks) / 1000, cache.contexts, cache.uncertainTokens,
                               cache.distinctSuffixes, Double(cache.memoryBytes) / 1_048_576))
        Terminal.stdout("token ids: \(tokens)\n")
    }

    private struct Run {
        var tokensPerSecond: Double
        var stepMilliseconds: Double
        var masks: [UInt64]
    }

    /// Free and constrained runs interleaved on two engines that live across the rounds, as a
    /// server's would: the first constrained round fills the grammar's mask cache (reported
    /// apart), the later ones find it warm.
    private func generation(_ loaded: LoadedModel, batch: Int) throws {
        let config = try engineOptions.config()
        let freeEngine = try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: config)
        let constrainedEngine = try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: config)
        var free: [Run] = [], constrained: [Run] = []
        var cold: Run?
        for round in 0...rounds {
            let f = try decode(freeEngine, batch: batch, constraint: nil)
            let c = try decode(constrainedEngine, batch: batch, constraint: .json(schema: Self.people))
            if round == 0 { cold = c } else { free.append(f); constrained.append(c) }
        }
        if let cold {
            let sorted = cold.masks.sorted()
            Terminal.stdout(String(format: "batch %d, first round (cold mask cache): mask per token p50 %.1f µs, p99 %.1f µs, total %.1f ms\n",
                                   batch, Double(sorted[sorted.count / 2]) / 1000, Double(sorted[sorted.count * 99 / 100]) / 1000,
                                   Double(sorted.reduce(0, +)) / 1e6))
        }
        let median = { (runs: [Run], key: KeyPath<Run, Double>) in runs.map { $0[keyPath: key] }.sorted()[runs.count / 2] }
        let masks = constrained.flatMap(\.masks).sorted()
        let p = { (q: Double) in masks.isEmpty ? .nan : Double(masks[min(masks.count - 1, Int(Double(masks.count) * q))]) / 1000 }
        let step = median(constrained, \.stepMilliseconds)
        Terminal.stdout(String(
            format: "batch %d, warm: free %.1f tok/s, constrained %.1f tok/s (%.3f×) | mask per token p50 %.1f µs, p99 %.1f µs, mean %.1f µs over %d masks | decode step %.2f ms: mask p50 %.2f%%, p99 %.2f%% of it per token\n",
            batch, median(free, \.tokensPerSecond), median(constrained, \.tokensPerSecond),
            median(constrained, \.tokensPerSecond) / median(free, \.tokensPerSecond), p(0.5), p(0.99),
            masks.isEmpty ? .nan : Double(masks.reduce(0, +)) / Double(masks.count) / 1000, masks.count, step,
            p(0.5) / 10 / step, p(0.99) / 10 / step))
    }

    /// `batch` chat requests decoding --output-len tokens; tokens/s over decode-only steps.
    private func decode(_ engine: LLMEngine, batch: Int, constraint: StructuredOutputsParams?) throws -> Run {
        let params = SamplingParams(temperature: 0, maxTokens: outputLen, ignoreEOS: constraint == nil, structuredOutputs: constraint)
        for i in 0..<batch {
            try engine.addRequest(.chat([.user("List forty people (\(i)) with their name, age and email, as JSON.")]), params: params)
        }
        var seconds = 0.0, tokens = 0, steps = 0
        engine.runner.recordsMaskTimes = true
        engine.runner.overlapsGrammarMasks = !noMaskOverlap
        engine.runner.maskNanoseconds.removeAll()
        while engine.hasUnfinishedRequests {
            let before = engine.stats, start = DispatchTime.now().uptimeNanoseconds
            _ = engine.step()
            let after = engine.stats
            if after.prefilledTokens == before.prefilledTokens {
                seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                tokens += after.generationTokens - before.generationTokens
                steps += 1
            }
        }
        return Run(tokensPerSecond: Double(tokens) / seconds, stepMilliseconds: seconds * 1000 / Double(max(steps, 1)),
                   masks: engine.runner.maskNanoseconds)
    }
}
