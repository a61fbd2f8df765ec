import ArgumentParser
import Engine
import Foundation
import Kernels
import Tokenization

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks of the engine.", subcommands: [KernelBench.self, LatencyBench.self, ThroughputBench.self, StructuredBench.self, TransportBench.self, ExpertParallelBench.self])
}

/// Benchmark prompts from a JSON Lines file: one `{"prompt": text}` or `{"messages": […]}` per line.
enum BenchPrompts {
    static func load(_ path: String) throws -> [PromptInput] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
        return try text.split(separator: "\n").enumerated().map { (i, line) in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw ValidationError("\(path):\(i + 1): not a JSON object")
            }
            if let prompt = object["prompt"] as? String { return .text(prompt) }
            if let messages = object["messages"] as? [[String: String]] {
                return .chat(messages.map { ChatMessage(role: $0["role"] ?? "user", content: $0["content"] ?? "") })
            }
            throw ValidationError("\(path):\(i + 1): needs \"prompt\" or \"messages\"")
        }
    }
}

/// vLLM's `benchmark_throughput` idea: N synthetic requests through the engine, with at most
/// `--concurrency` in flight, reporting throughput, TTFT/TPOT percentiles and prefix-cache hits.
struct ThroughputBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput", abstract: "Run N synthetic requests through the engine and report throughput and latency.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var expertParallelOptions: ExpertParallelOptions

    @Option(help: "Number of requests.")
    var numPrompts = 32

    @Option(help: "Prompt length in tokens.")
    var inputLen = 256

    @Option(help: "Generated tokens per request (EOS ignored).")
    var outputLen = 64

    @Option(help: "Fraction of each prompt that is a prefix shared by all requests (0…1).")
    var sharedPrefixRatio = 0.0

    @Option(help: "Most requests in flight (default: all at once).")
    var concurrency: Int?

    @Option(help: "Seed of the synthetic prompts.")
    var seed: UInt64 = 0

    @Flag(help: "Run with prefix caching on and off, interleaved (at --concurrency 1, request by request), and report the ratio.")
    var comparePrefixCaching = false

    @Option(help: "Rounds per configuration with --compare-prefix-caching or --compare-speculation.")
    var rounds = 3

    @Option(help: ArgumentHelp(
        "Real prompts instead of synthetic ones: a JSON Lines file of {\"prompt\": text} or {\"messages\": [{\"role\",\"content\"}…]} objects, used in turn for --num-prompts requests.",
        valueName: "file"))
    var promptsFile: String?

    @Flag(help: "Stop at EOS (default: generate --output-len tokens).")
    var respectEos = false

    @Flag(help: "Run with and without --speculative-config, interleaved --rounds times (at --concurrency 1, request by request), and report the ratio.")
    var compareSpeculation = false

    @Flag(help: "Print one JSON object per run.")
    var json = false

    func validate() throws {
        guard numPrompts > 0, inputLen > 0, outputLen > 0 else { throw ValidationError("--num-prompts, --input-len and --output-len must be positive") }
        if compareSpeculation && engineOptions.speculativeConfig == nil { throw ValidationError("--compare-speculation needs --speculative-config") }
        if compareSpeculation && comparePrefixCaching { throw ValidationError("compare prefix caching or speculation, not both at once") }
        guard (0...1).contains(sharedPrefixRatio) else { throw ValidationError("--shared-prefix-ratio must be in 0…1") }
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() throws {
        let loaded = try LoadedModel(modelOptions, showProgress: !json, expertParallel: expertParallelOptions)
        let prompts = try promptsFile.map(BenchPrompts.load) ?? makePrompts(vocabSize: loaded.model.config.vocabSize).map(PromptInput.tokens)
        let compares = comparePrefixCaching || compareSpeculation
        var byMode: [Bool: [Report]] = [:]
        if compares && concurrency == 1 {
            byMode = try runPaired(loaded, prompts: prompts)
        } else {
            for on in compares ? Array(repeating: [true, false], count: rounds).flatMap({ $0 }) : [true] {
                let engine = try makeEngine(loaded, on: on)
                var timing = Timing()
                try drive(engine, prompts: prompts, requests: 0..<numPrompts, into: &timing)
                let report = Report(engine, timing, requests: numPrompts)
                byMode[on, default: []].append(report)
                print(report, caching: engine.config.enablePrefixCaching)
            }
        }
        if compares, let on = byMode[true], let off = byMode[false] {
            let median = { (r: [Report]) in r.map(\.generationTokensPerSecond).sorted()[r.count / 2] }
            let ratio = median(on) / median(off)
            let what = comparePrefixCaching ? "prefix caching" : "speculation"
            Terminal.stdout(String(format: "%@ on/off, median generation throughput: %.3f (%+.1f%%)\n", what, ratio, (ratio - 1) * 100))
        }
    }

    /// An engine with the compared feature on or off.
    private func makeEngine(_ loaded: LoadedModel, on: Bool) throws -> LLMEngine {
        var config = try engineOptions.config(loaded: loaded)
        if comparePrefixCaching { config.enablePrefixCaching = on }
        if compareSpeculation && !on { config.speculative = nil }
        return try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: config)
    }

    /// A comparison at concurrency 1: each round makes a fresh engine of each configuration and
    /// runs every request on both, one right after the other (which goes first alternates), so
    /// that the two see the machine in the same state. Whole runs in turn saw it drift apart: on
    /// a VM whose speed moves 10-25% within minutes, one configuration's median could move the
    /// ratio by 0.3.
    private func runPaired(_ loaded: LoadedModel, prompts: [PromptInput]) throws -> [Bool: [Report]] {
        var byMode: [Bool: [Report]] = [:]
        let modes = [true, false]
        for _ in 0..<rounds {
            let engines = try modes.map { try makeEngine(loaded, on: $0) }
            var timings = [Timing](repeating: Timing(), count: modes.count)
            for i in 0..<numPrompts {
                for k in i % 2 == 0 ? [0, 1] : [1, 0] {
                    try drive(engines[k], prompts: prompts, requests: i..<(i + 1), into: &timings[k])
                }
            }
            for (k, on) in modes.enumerated() {
                let report = Report(engines[k], timings[k], requests: numPrompts)
                byMode[on, default: []].append(report)
                print(report, caching: engines[k].config.enablePrefixCaching)
            }
        }
        return byMode
    }

    /// Wall time and decode-only steps of the requests an engine has run.
    struct Timing {
        var seconds = 0.0
        var decodeSeconds = 0.0
        var decodeTokens = 0
        var ttft: [Double] = []
        var tpot: [Double] = []
    }

    struct Report {
        var seconds: Double
        var requests: Int
        var promptTokens: Int
        var generatedTokens: Int
        var ttft: [Double]
        var tpot: [Double]
        var hitRate: Double
        var preemptions: Int
        /// Tokens per second over the steps that ran decodes only (as batched-bench's S_TG).
        var decodeTokensPerSecond: Double
        var specDecode: SpecDecodeStats?

        var generationTokensPerSecond: Double { Double(generatedTokens) / seconds }

        /// The figures of everything `engine` has run, in `timing`.
        init(_ engine: LLMEngine, _ timing: Timing, requests: Int) {
            let stats = engine.stats
            seconds = timing.seconds
            self.requests = requests
            promptTokens = stats.promptTokens
            generatedTokens = stats.generationTokens
            ttft = timing.ttft
            tpot = timing.tpot
            hitRate = stats.prefixCache.hitRate
            preemptions = stats.numPreemptions
            decodeTokensPerSecond = timing.decodeSeconds > 0 ? Double(timing.decodeTokens) / timing.decodeSeconds : .nan
            specDecode = stats.specDecode
        }

        static func percentile(_ values: [Double], _ p: Double) -> Double {
            guard !values.isEmpty else { return .nan }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
        }
    }

    private func makePrompts(vocabSize: Int) -> [[Int]] {
        var rng = RandomGenerator(seed: seed)
        func token() -> Int { 100 + Int(rng.next() % UInt64(vocabSize - 200)) }
        let shared = (0..<Int(Double(inputLen) * sharedPrefixRatio)).map { _ in token() }
        return (0..<numPrompts).map { _ in shared + (0..<(inputLen - shared.count)).map { _ in token() } }
    }

    /// Runs requests `requests` (prompts in turn) to the end, at most `--concurrency` in flight,
    /// adding their times to `timing`.
    private func drive(_ engine: LLMEngine, prompts: [PromptInput], requests: Range<Int>, into timing: inout Timing) throws {
        let params = SamplingParams(temperature: 0, maxTokens: outputLen, ignoreEOS: !respectEos)
        let limit = concurrency ?? prompts.count
        var next = requests.lowerBound, inFlight = 0
        let start = Date()
        while next < requests.upperBound || engine.hasUnfinishedRequests {
            while inFlight < limit && next < requests.upperBound {
                try engine.addRequest(prompts[next % prompts.count], params: params)
                next += 1
                inFlight += 1
            }
            let before = engine.stats, stepStart = DispatchTime.now().uptimeNanoseconds
            let outputs = engine.step()
            let after = engine.stats
            if after.prefilledTokens == before.prefilledTokens {  // a step of decodes only
                timing.decodeSeconds += Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
                timing.decodeTokens += after.generationTokens - before.generationTokens
            }
            for output in outputs where output.finished {
                inFlight -= 1
                if let m = output.metrics {
                    if let t = m.ttft { timing.ttft.append(t) }
                    if let t = m.tpot { timing.tpot.append(t) }
                }
            }
        }
        timing.seconds += Date().timeIntervalSince(start)
    }

    private func print(_ r: Report, caching: Bool) {
        let p = Report.percentile
        if json {
            var object: [String: Any] = [
                "prefix_caching": caching, "seconds": r.seconds, "requests_per_s": Double(r.requests) / r.seconds,
                "prompt_tokens_per_s": Double(r.promptTokens) / r.seconds, "generation_tokens_per_s": r.generationTokensPerSecond,
                "ttft_p50_ms": p(r.ttft, 0.5) * 1000, "ttft_p99_ms": p(r.ttft, 0.99) * 1000,
                "tpot_p50_ms": p(r.tpot, 0.5) * 1000, "tpot_p99_ms": p(r.tpot, 0.99) * 1000,
                "prefix_cache_hit_rate": r.hitRate, "preemptions": r.preemptions,
                "decode_tokens_per_s": r.decodeTokensPerSecond.isNaN ? NSNull() : r.decodeTokensPerSecond as Any,
            ]
            if let s = r.specDecode {
                object["spec_draft_tokens"] = s.numDraftTokens
                object["spec_accepted_tokens"] = s.numAcceptedTokens
                object["spec_acceptance_rate"] = s.acceptanceRate
                object["spec_mean_acceptance_length"] = s.meanAcceptanceLength
                object["spec_accepted_per_position"] = s.acceptedPerPosition
            }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
            }
            return
        }
        Terminal.stdout(String(
            format: "prefix caching %@ | %d requests in %.2f s: %.2f req/s, prompt %.0f tok/s, generation %.1f tok/s (decode-only steps %.1f tok/s) | TTFT p50 %.1f ms p99 %.1f ms | TPOT p50 %.2f ms p99 %.2f ms | prefix hit rate %.1f%% | preemptions %d\n",
            caching ? "on " : "off", r.requests, r.seconds, Double(r.requests) / r.seconds, Double(r.promptTokens) / r.seconds,
            r.generationTokensPerSecond, r.decodeTokensPerSecond, p(r.ttft, 0.5) * 1000, p(r.ttft, 0.99) * 1000, p(r.tpot, 0.5) * 1000, p(r.tpot, 0.99) * 1000,
            r.hitRate * 100, r.preemptions))
        if let s = r.specDecode {
            Terminal.stdout(String(format: "  speculation: %d drafts, %d draft tokens, %d accepted (%.1f%%), mean acceptance length %.2f, accepted per position %@\n",
                                   s.numDrafts, s.numDraftTokens, s.numAcceptedTokens, s.acceptanceRate * 100, s.meanAcceptanceLength,
                                   s.acceptedPerPosition.map(String.init).joined(separator: " ")))
        }
    }
}

/// llama-bench's pp and tg tests: `pp<P>` evaluates a P-token prompt as one batch, `tg<N>`
/// decodes N tokens one by one, each from an empty cache (or after `--depth` tokens of context),
/// straight through the model.
struct LatencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency", abstract: "Prompt processing and token generation speed of one sequence (llama-bench's pp512 and tg128).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var expertParallelOptions: ExpertParallelOptions

    @Option(name: [.customShort("p"), .long], help: "Prompt tokens (pp test; 0 skips it).")
    var nPrompt = 512

    @Option(name: [.customShort("n"), .long], help: "Generated tokens (tg test; 0 skips it).")
    var nGen = 128

    @Option(name: [.customShort("r"), .long], help: "Timed repetitions of each test (after one warm-up); the median is reported.")
    var repetitions = 5

    @Option(name: [.customShort("d"), .long], help: "Tokens of context already in the cache when each test starts (llama-bench's -d).")
    var depth = 0

    @Option(help: "KV cache element type: f16, bf16 or f32.")
    var kvCacheDtype = KVPrecision.float16

    @Flag(help: "The pp test computes every prompt token's logits, as a speculative verification step of --n-prompt tokens does (llama.cpp's logits_all).")
    var logitsAll = false

    @Flag(help: "Print one JSON object: {\"pp512\": tokens/s, \"tg128\": tokens/s, ...}.")
    var json = false

    func validate() throws {
        guard nPrompt >= 0, nGen >= 0, nPrompt + nGen > 0 else { throw ValidationError("--n-prompt and --n-gen must be non-negative, not both zero") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard depth >= 0 else { throw ValidationError("--depth must be non-negative") }
    }

    func run() throws {
        let loaded = try LoadedModel(modelOptions, showProgress: !json, expertParallel: expertParallelOptions)
        guard depth + max(nPrompt, nGen) <= loaded.model.config.contextLength else {
            throw ValidationError("--depth plus --n-prompt or --n-gen must fit the model's context (\(loaded.model.config.contextLength) tokens)")
        }
        let result = LatencyBenchmark(model: loaded.model, promptTokens: nPrompt, generatedTokens: nGen, depth: depth, kvCacheDtype: kvCacheDtype,
                                       logitsAll: logitsAll)
            .run(repetitions: repetitions)
        let at = depth > 0 ? " @ d\(depth)" : ""
        let threads = try modelOptions.threadCount()
        if json {
            var object: [String: Any] = ["threads": threads, "repetitions": repetitions]
            if nPrompt > 0 { object["pp\(nPrompt)"] = result.promptTokensPerSecond; object["pp\(nPrompt)_runs"] = result.promptRuns }
            if nGen > 0 { object["tg\(nGen)"] = result.generationTokensPerSecond; object["tg\(nGen)_runs"] = result.generationRuns }
            if depth > 0 { object["depth"] = depth }
            if !result.samplerMicroseconds.isEmpty { object["sampler_us"] = result.samplerMicroseconds }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        func spread(_ runs: [Double]) -> String {
            String(format: "%.1f tokens/s (min %.1f, max %.1f)", LatencyBenchmark.Result.median(runs), runs.min() ?? .nan, runs.max() ?? .nan)
        }
        if nPrompt > 0 { Terminal.stdout("pp\(nPrompt)\(at): \(spread(result.promptRuns))\n") }
        if nGen > 0 { Terminal.stdout("tg\(nGen)\(at): \(spread(result.generationRuns))\n") }
        let step = 1e6 / result.generationTokensPerSecond
        for (name, us) in result.samplerMicroseconds.sorted(by: { $0.key < $1.key }) {
            Terminal.stdout("sampler, \(name): " + String(format: "%.1f µs per token (%.1f%% of a tg step)\n", us, 100 * us / step))
        }
        Terminal.stdout("threads \(threads), median of \(repetitions) after a warm-up\n")
    }
}
