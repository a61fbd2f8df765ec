import ArgumentParser
import Engine
import ExpertParallel
import EPLB
import Foundation
import Models

/// `peregrine bench expert-parallel`: batched decode of an MoE model with its experts on expert
/// workers (`--expert-parallel-size`, `--expert-workers`) or on simulated ranks
/// (`--simulated-ranks`, a modelled link), EPLB rebalancing live, and per phase (before the first
/// rebalance, after it) the step time, decode throughput, per-step balancedness over the ranks and
/// the busiest rank's rows, and dispatch+combine bytes and time per layer.
struct ExpertParallelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expert-parallel",
        abstract: "Batched decode with the experts on workers or simulated ranks: balancedness, step time and dispatch cost before and after the first rebalance.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var expertParallelOptions: ExpertParallelOptions

    @Option(help: "Simulate this many ranks in this process (each rank's rows computed and timed here, the link modelled) instead of workers.")
    var simulatedRanks: Int?

    @Option(help: "Simulated ranks: the link rate in Gbit/s.")
    var linkGbits = 10.0

    @Option(help: "Simulated ranks: the one-way latency of a message in microseconds.")
    var linkLatencyUs = 50.0

    @Option(help: "Sequences decoding at once.")
    var sequences = 16

    @Option(help: "Prompt tokens per sequence.")
    var promptLen = 16

    @Option(help: "Generated tokens per sequence.")
    var outputLen = 256

    @Option(help: "Seed of the random prompts.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if simulatedRanks != nil && expertParallelOptions.isEnabled { throw ValidationError("simulate ranks or use workers, not both") }
        if simulatedRanks == nil && !expertParallelOptions.isEnabled {
            throw ValidationError("give --expert-parallel-size, --expert-workers or --simulated-ranks")
        }
        guard sequences >= 1, promptLen >= 1, outputLen >= 2 else { throw ValidationError("--sequences, --prompt-len ≥ 1 and --output-len ≥ 2") }
    }

    /// What the steps of one phase did.
    struct Phase {
        var steps = 0, tokens = 0
        var seconds = 0.0, modelledSeconds = 0.0
        var balancedness = 0.0, maxRankRows = 0
        /// Each rank's rows over the phase (their balancedness is the window's, as EPLB measures it).
        var rankRows: [Int] = []
        var dispatches = 0, bytes = 0
        var waitSeconds = 0.0
        /// Per step, the busiest rank's expert compute (its worker's time over the step's layers).
        var maxRankComputeSeconds = 0.0

        mutating func add(seconds s: Double, modelled: Double, tokens t: Int, rows: [Int], before: ExpertDispatchStats, after: ExpertDispatchStats) {
            steps += 1
            tokens += t
            seconds += s
            modelledSeconds += modelled
            let top = rows.max() ?? 0
            maxRankRows += top
            if rankRows.isEmpty { rankRows = rows } else { for r in rows.indices { rankRows[r] += rows[r] } }
            balancedness += top == 0 ? 1 : Double(rows.reduce(0, +)) / Double(rows.count) / Double(top)
            maxRankComputeSeconds += zip(after.ranks, before.ranks).map { $0.computeSeconds - $1.computeSeconds }.max() ?? 0
            for (a, b) in zip(after.ranks, before.ranks) {
                dispatches += a.dispatches - b.dispatches
                bytes += a.bytesSent - b.bytesSent + a.bytesReceived - b.bytesReceived
                waitSeconds += a.waitSeconds - b.waitSeconds
            }
        }

        func summary(layers: Int) -> [String: Double] {
            let n = Double(max(1, steps))
            return ["steps": Double(steps), "step_ms": seconds / n * 1000, "modelled_step_ms": modelledSeconds / n * 1000,
                    "tokens_per_second": Double(tokens) / max(seconds, 1e-9), "modelled_tokens_per_second": Double(tokens) / max(modelledSeconds, 1e-9),
                    "balancedness": balancedness / n, "max_rank_rows_per_step": Double(maxRankRows) / n,
                    "phase_balancedness": Double(rankRows.reduce(0, +)) / Double(max(1, rankRows.count)) / Double(max(1, rankRows.max() ?? 1)),
                    "max_rank_compute_ms_per_step": maxRankComputeSeconds / n * 1000,
                    "bytes_per_layer": Double(bytes) / n / Double(layers), "wait_ms_per_rank_dispatch": waitSeconds / Double(max(1, dispatches)) * 1000]
        }
    }

    /// One decode step of a run.
    struct StepRecord {
        var seconds, modelled: Double
        var tokens: Int
        var rows: [Int]
        var before, after: ExpertDispatchStats
        var rebalances: Int
    }

    func run() throws {
        let loaded = try LoadedModel(modelOptions, showProgress: !json, expertParallel: expertParallelOptions)
        guard let router = loaded.model.expertRouter else { throw ValidationError("expert parallelism needs a mixture-of-experts model") }
        var simulated: SimulatedExperts?
        if let simulatedRanks {
            simulated = try SimulatedExperts(file: loaded.file, ranks: simulatedRanks,
                                             link: .init(bitsPerSecond: linkGbits * 1e9, latency: linkLatencyUs / 1e6),
                                             workerThreads: expertParallelOptions.expertWorkerThreads)
            router.dispatcher = simulated
        }
        var config = try engineOptions.config(loaded: loaded)
        guard var eplb = config.eplb else { throw ValidationError("give --enable-eplb (and --eplb-config) to rebalance") }
        if let simulatedRanks { eplb.numRanks = simulatedRanks }
        config.eplb = eplb
        // The same batch twice: rebalancing live, then with the first placement kept throughout
        // (steps get slower as contexts grow, so phases compare against the same steps).
        let (live, expected) = try decode(loaded, config: config, simulated: simulated)
        eplb.stepInterval = Int.max / 2
        config.eplb = eplb
        let (kept, _) = try decode(loaded, config: config, simulated: simulated)
        let split = live.firstIndex { $0.rebalances > 0 } ?? live.count
        func phases(_ steps: [StepRecord]) -> [Phase] {
            var result = [Phase(), Phase()]
            for (i, step) in steps.enumerated() {
                result[i < split ? 0 : 1].add(seconds: step.seconds, modelled: step.modelled, tokens: step.tokens, rows: step.rows,
                                              before: step.before, after: step.after)
            }
            return result
        }
        let layers = loaded.model.config.numLayers, ranks = live.first?.after.ranks.count ?? 0
        let liveSummary = phases(live).map { $0.summary(layers: layers) }, keptSummary = phases(kept).map { $0.summary(layers: layers) }
        if json {
            let report: [String: Any] = [
                "ranks": ranks, "simulated": simulated != nil, "sequences": sequences, "rebalances": live.last?.rebalances ?? 0,
                "first_rebalance_step": split, "expected_balancedness_of_first_rebalance": expected ?? -1,
                "live": ["before_first_rebalance": liveSummary[0], "after_first_rebalance": liveSummary[1]],
                "first_placement_kept": ["before_first_rebalance": keptSummary[0], "after_first_rebalance": keptSummary[1]],
            ]
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        Terminal.stdout("\(ranks) \(simulated == nil ? "worker" : "simulated") ranks, \(sequences) sequences; first rebalance after decode step \(split), \(live.last?.rebalances ?? 0) in all\n")
        for (name, summaries) in [("rebalancing live", liveSummary), ("first placement kept", keptSummary)] {
            for (phase, s) in zip(["before the first rebalance", "after it"], summaries) {
                Terminal.stdout(String(format: "%@, %@: %.0f steps, step %.2f ms (modelled %.2f), %.1f tokens/s (modelled %.1f), balancedness %.3f per step, %.3f over the phase, busiest rank %.1f rows/step and %.2f ms compute/step, %.0f bytes/layer/step, wait %.3f ms/rank-dispatch\n",
                                       name, phase, s["steps"]!, s["step_ms"]!, s["modelled_step_ms"]!, s["tokens_per_second"]!, s["modelled_tokens_per_second"]!,
                                       s["balancedness"]!, s["phase_balancedness"]!, s["max_rank_rows_per_step"]!, s["max_rank_compute_ms_per_step"]!, s["bytes_per_layer"]!,
                                       s["wait_ms_per_rank_dispatch"]!))
            }
        }
        if let expected { Terminal.stdout(String(format: "the balancer expected %.3f of its first placement on the load it saw\n", expected)) }
    }

    /// Runs the batch to the end; the decode steps' records and the first rebalance's expected balancedness.
    private func decode(_ loaded: LoadedModel, config: EngineConfig, simulated: SimulatedExperts?) throws -> ([StepRecord], Double?) {
        let engine = try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: config)
        var rng = RandomGenerator(seed: seed)
        let vocab = loaded.model.config.vocabSize
        for _ in 0..<sequences {
            let prompt = (0..<promptLen).map { _ in Int(rng.next() % UInt64(vocab)) }
            try engine.addRequest(.tokens(prompt), params: SamplingParams(temperature: 0, maxTokens: outputLen, ignoreEOS: true))
        }
        var records: [StepRecord] = []
        var last = engine.stats
        var expected: Double?
        var steps = 0, installedAt = 0
        while engine.hasUnfinishedRequests {
            steps += 1
            let measured = simulated?.measuredSeconds ?? 0, modelled = simulated?.modelledSeconds ?? 0
            let started = DispatchTime.now().uptimeNanoseconds
            _ = engine.step()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let now = engine.stats
            guard let before = last.expertParallel, let after = now.expertParallel else { break }
            if now.prefilledTokens == last.prefilledTokens {
                records.append(StepRecord(
                    seconds: seconds, modelled: simulated.map { seconds - ($0.measuredSeconds - measured) + ($0.modelledSeconds - modelled) } ?? seconds,
                    tokens: now.generationTokens - last.generationTokens, rows: zip(after.ranks, before.ranks).map { $0.rows - $1.rows },
                    before: before, after: after, rebalances: now.expertLoad?.rebalances ?? 0))
            }
            if expected == nil { expected = now.expertLoad?.expectedBalancednessOfLastRebalance }
            if (now.expertLoad?.rebalances ?? 0) != (last.expertLoad?.rebalances ?? 0) { installedAt = steps }
            last = now
        }
        if let load = last.expertLoad, let lastExpected = load.expectedBalancednessOfLastRebalance, !json, load.rebalances > 0,
           steps - installedAt >= config.eplb?.windowSize ?? .max {
            // The balancer's own measure of the placement in force, on the load of the last
            // window (out of sample: not the load it was computed from).
            let r = load.numPhysicalExperts
            let placement = try ExpertPlacement(
                configuration: RebalanceConfiguration(numReplicas: r, numGroups: load.numGroups, numNodes: load.numNodes, numGPUs: load.numRanks),
                numExperts: load.load.numExperts, phy2log: (0..<load.load.numLayers).map { Array(load.placement[($0 * r)..<(($0 + 1) * r)]) })
            let onServedLoad = Balancedness(weight: load.load, placement: placement).meanAfter
            Terminal.stdout(String(format: "last placement: the balancer expected %.3f on the load it was computed from, %.3f on the last window's load; EPLB's recorder measured %.3f since it was installed\n",
                                   lastExpected, onServedLoad, load.balancedness.reduce(0, +) / Double(max(1, load.balancedness.count))))
        }
        return (records, expected)
    }
}
