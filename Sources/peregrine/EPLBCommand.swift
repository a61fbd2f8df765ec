import ArgumentParser
import EPLB
import Foundation

/// `peregrine eplb`: DeepSeek's expert-parallelism load balancer on a recorded or synthetic load.
struct EPLBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eplb",
        abstract: "Expert-parallelism load balancing: replicate hot MoE experts and place them on GPUs (DeepSeek EPLB).",
        discussion: """
            Without a subcommand, rebalances the load in --load (same as `eplb rebalance`).

            Presets (--preset) for the two regimes of DeepSeek-V3 serving; explicit options override them:
              \(DeploymentPreset.prefill.summary)
              \(DeploymentPreset.decode.summary)
            """,
        subcommands: [Rebalance.self, Synth.self, Bench.self],
        defaultSubcommand: Rebalance.self)
}

extension BalancingPolicy: ExpressibleByArgument {}
extension DeploymentPreset: ExpressibleByArgument {}

extension EPLBCommand {
    struct Rebalance: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebalance",
            abstract: "Compute the replica placement for a load file; print a summary, write the mapping and reports.",
            discussion: """
                The load file is JSON: a bare L × E array of numbers (layers × logical experts), or an object whose \
                "weight" key holds one (other keys are ignored, e.g. a recorder export or `eplb synth` output).

                The mapping (--out) is a JSON object with phy2log (L × R), log2phy (L × E × W, −1 padded), logcnt \
                (L × E), policy, balancedness_before and balancedness_after; the EPLB library reads it back \
                (ExpertPlacement(mappingJSON:)). The HTML report (--html) is one self-contained file: GPU loads \
                before/after, the slot → expert grid and balancedness, per layer; the per-layer data is embedded \
                once and the page's script draws the layer you select (without JavaScript, only the least \
                balanced layer shows).

                Presets: \(DeploymentPreset.prefill.summary); \(DeploymentPreset.decode.summary).

                Example: peregrine eplb --load load.json --preset prefill --html report.html
                """)

        @Option(help: "The load file (JSON, L × E).")
        var load: String

        @Option(help: "A preset cluster shape: prefill (hierarchical, 32 GPUs) or decode (global, E + 64 GPUs).")
        var preset: DeploymentPreset?

        @Option(help: "R: physical expert slots per layer (a multiple of --gpus, at least E).")
        var replicas: Int?

        @Option(help: "G: expert groups (E must be a multiple of G; default 1, or the preset's).")
        var groups: Int?

        @Option(help: "N: server nodes (default 1, or the preset's).")
        var nodes: Int?

        @Option(help: "P: GPUs in all.")
        var gpus: Int?

        @Option(help: "auto (hierarchical when G is a multiple of N), hierarchical or global.")
        var policy: BalancingPolicy?

        @Option(help: "Report this placement (a mapping file, such as a server's GET /v1/eplb/placement) instead of computing one.")
        var placement: String?

        @Option(help: "Write the mapping JSON here.")
        var out: String?

        @Option(help: "Write the self-contained HTML report here.")
        var html: String?

        @Option(help: "Write an SVG report (balancedness overview and one layer) here.")
        var svg: String?

        @Option(help: "The layer the SVG shows (default: the least balanced one before rebalancing).")
        var layer: Int?

        @Option(help: "Threads sharing the layers (the result does not depend on it).")
        var threads: Int = 1

        func run() throws {
            let weight = try ExpertLoadMatrix(jsonData: EPLBFiles.read(load))
            if let layer, !(0..<weight.numLayers).contains(layer) {
                throw EPLBError.layerOutOfRange(layer: layer, numLayers: weight.numLayers)
            }
            let placement: ExpertPlacement
            if let given = self.placement {
                placement = try ExpertPlacement(mappingJSON: EPLBFiles.read(given))
                guard placement.numLayers == weight.numLayers, placement.numExperts == weight.numExperts else {
                    throw EPLBCommandError(description: "the placement is for \(placement.numLayers) layers × \(placement.numExperts) experts, the load \(weight.numLayers) × \(weight.numExperts)")
                }
            } else {
                placement = try ExpertLoadBalancer(resolvedConfiguration(numExperts: weight.numExperts)).rebalance(weight, threads: threads)
            }
            let report = PlacementReport(weight: weight, placement: placement)
            var written: [String] = []
            if let out {
                try EPLBFiles.write(PlacementDocument(placement: placement, balancedness: report.balancedness).jsonData(), to: out)
                written.append(out)
            }
            if let html {
                try EPLBFiles.write(Data(report.html().utf8), to: html)
                written.append(html)
            }
            if let svg {
                try EPLBFiles.write(Data(report.svg(layer: layer).utf8), to: svg)
                written.append(svg)
            }
            EPLBFiles.stdout(report.summary() + (written.isEmpty ? "" : "wrote \(written.joined(separator: ", "))\n"))
        }

        /// The preset's configuration (if any) with the explicit options applied on top.
        func resolvedConfiguration(numExperts: Int) throws -> RebalanceConfiguration {
            if let preset {
                return preset.configuration(numExperts: numExperts).with(
                    numReplicas: replicas, numGroups: groups, numNodes: nodes, numGPUs: gpus, policy: policy)
            }
            guard let replicas, let gpus else {
                throw EPLBCommandError(description: "give --replicas and --gpus (optionally --groups, --nodes), or --preset prefill|decode")
            }
            return RebalanceConfiguration(
                numReplicas: replicas, numGroups: groups ?? 1, numNodes: nodes ?? 1, numGPUs: gpus, policy: policy ?? .auto)
        }
    }

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "synth",
            abstract: "Write a synthetic load file (JSON with a \"weight\" L × E matrix) to stdout or --out.",
            discussion: "Example: peregrine eplb synth --layers 58 --experts 256 --skew zipf:1.1 --seed 1 > load.json")

        @Option(help: "L: MoE layers.")
        var layers: Int = 58

        @Option(help: "E: logical experts per layer.")
        var experts: Int = 256

        @Option(help: "uniform, or zipf:S (expert of popularity rank k gets ∝ 1/k^S; popularity shuffled per layer).")
        var skew: String = "zipf:1.1"

        @Option(help: "Expert selections per layer (tokens × top-k).")
        var tokens: Int = 4096 * 8

        @Option(help: "Random seed (the same seed gives the same file).")
        var seed: UInt64 = 1

        @Option(help: "Write here instead of stdout.")
        var out: String?

        func run() throws {
            let skew = try LoadSkew(parsing: skew)
            let synthetic = SyntheticLoad(numLayers: layers, numExperts: experts, skew: skew, tokensPerLayer: tokens, seed: seed)
            let data = try synthetic.matrix().jsonData(metadata: [
                ("generator", "peregrine eplb synth"), ("skew", skew.description), ("seed", String(seed)),
                ("tokens_per_layer", String(tokens)),
            ])
            if let out {
                try EPLBFiles.write(data, to: out)
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench",
            abstract: "Time the balancer on DeepSeek-V3 shapes (58 layers × 256 experts, Zipf 1.1 load), one thread.",
            discussion: """
                prefill: 288 slots, 8 groups, 4 nodes, 32 GPUs (hierarchical); decode: 320 slots on 320 GPUs (global).
                Prints this implementation's own timings (median, min, p90, max over --iterations runs, after 3 \
                warm-up runs). It runs no other implementation, so it prints no comparison: to compare with \
                DeepSeek's Python reference, time its rebalance_experts on the same machine and load \
                (`eplb synth --layers 58 --experts 256 --skew zipf:1.1 --seed 1` writes it).
                """)

        @Option(help: "Timed runs per workload.")
        var iterations: Int = 200

        @Option(help: "L: MoE layers.")
        var layers: Int = 58

        @Option(help: "E: logical experts per layer.")
        var experts: Int = 256

        func run() throws {
            guard iterations > 0 else { throw EPLBError.nonPositiveParameter(name: "iterations", value: iterations) }
            let results = try RebalanceBenchmark(numLayers: layers, numExperts: experts).run(iterations: iterations)
            var lines = [
                "\(layers) layers × \(experts) experts, zipf:1.1 load (seed 1); \(iterations) timed runs per workload, 1 thread",
                "workload  median      min         p90         max",
            ]
            for r in results {
                let name = r.workload.padding(toLength: 8, withPad: " ", startingAt: 0)
                lines.append("\(name)  \(Self.ms(r.median))  \(Self.ms(r.minimum))  \(Self.ms(r.p90))  \(Self.ms(r.maximum))")
            }
            EPLBFiles.stdout(lines.joined(separator: "\n") + "\n")
        }

        static func ms(_ seconds: Double) -> String {
            String(format: "%7.3f ms", seconds * 1e3)
        }
    }
}

/// A one-line usage or I/O error of the eplb commands (ArgumentParser prints `Error: …`, exit code 1).
struct EPLBCommandError: Error, CustomStringConvertible {
    let description: String
}

/// File and terminal output for the eplb commands, with one-line errors.
enum EPLBFiles {
    static func read(_ path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw EPLBCommandError(description: "cannot read \(path): \((error as NSError).localizedDescription)")
        }
    }

    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EPLBCommandError(description: "cannot write \(path): \((error as NSError).localizedDescription)")
        }
    }

    static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
