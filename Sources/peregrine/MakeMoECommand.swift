import ArgumentParser
import Foundation
import GGUF

extension GGMLType: ExpressibleByArgument {
    public init?(argument: String) {
        guard let type = SyntheticMoEModel.types.first(where: { "\($0)".lowercased() == argument.lowercased() }) else { return nil }
        self = type
    }
}

/// `peregrine make-moe`: writes a synthetic mixture-of-experts GGUF file (random weights,
/// realistic shape) to benchmark the expert kernels and exercise EPLB on skewed routing.
struct MakeMoECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-moe", abstract: "Write a synthetic mixture-of-experts GGUF model (random weights) for benchmarks and EPLB.",
        discussion: """
            The file follows llama.cpp's layout (ffn_gate_inp, 3-D ffn_{gate,up,down}_exps), so llama.cpp runs it too. \
            --router-skew makes a few experts hot. Example, then a benchmark:
              peregrine make-moe /tmp/moe.gguf --router-skew 4
              peregrine bench latency --model /tmp/moe.gguf
            """)

    @Argument(help: "Where to write the .gguf file.")
    var output: String

    @Option(help: "qwen3moe, qwen2moe (adds a shared expert) or mixtral.")
    var architecture = "qwen3moe"
    @Option(help: "Decoder layers.") var layers = 16
    @Option(help: "Routed experts per layer.") var experts = 64
    @Option(help: "Experts per token (top-k).") var expertsUsed = 8
    @Option(help: "Hidden size.") var hidden = 1024
    @Option(help: "Query heads.") var heads = 16
    @Option(help: "Key/value heads.") var kvHeads = 4
    @Option(help: "Head size.") var headDim = 64
    @Option(help: "Width of each expert's MLP.") var expertFeedForward = 512
    @Option(help: "Width of the shared expert (qwen2moe).") var sharedExpertFeedForward = 1024
    @Option(help: "Weight type: q4_1, q5_0, q8_0 or q4_K.") var type = GGMLType.q4_1
    @Option(help: "Router bias toward a few hot experts (0: even; 4: the hottest wins about 4× its share).") var routerSkew = 0.0
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func validate() throws {
        guard ["qwen3moe", "qwen2moe", "mixtral"].contains(architecture) else {
            throw ValidationError("--architecture must be qwen3moe, qwen2moe or mixtral")
        }
        for (name, value) in [("--layers", layers), ("--experts", experts), ("--hidden", hidden), ("--heads", heads),
                              ("--kv-heads", kvHeads), ("--head-dim", headDim), ("--expert-feed-forward", expertFeedForward)] where value <= 0 {
            throw ValidationError("\(name) must be positive")
        }
        guard (1...experts).contains(expertsUsed) else { throw ValidationError("--experts-used must be in 1...\(experts)") }
        guard heads % kvHeads == 0 else { throw ValidationError("--heads must be a multiple of --kv-heads") }
        for (name, value) in [("--hidden", hidden), ("--expert-feed-forward", expertFeedForward), ("--shared-expert-feed-forward", sharedExpertFeedForward),
                              ("--heads × --head-dim", heads * headDim)] where value % type.blockSize != 0 || value % 8 != 0 {
            throw ValidationError("\(name) must be a multiple of \(max(8, type.blockSize)) for \(type)")
        }
        guard routerSkew >= 0 else { throw ValidationError("--router-skew must be ≥ 0") }
    }

    func run() throws {
        let model = SyntheticMoEModel(
            architecture: architecture, layers: layers, experts: experts, expertsUsed: expertsUsed, hidden: hidden, heads: heads,
            kvHeads: kvHeads, headDim: headDim, expertFeedForward: expertFeedForward, sharedExpertFeedForward: sharedExpertFeedForward,
            type: type, routerSkew: routerSkew, seed: seed)
        let bytes = model.write()
        try Data(bytes).write(to: URL(fileURLWithPath: output))
        let expertBytes = 3 * hidden * expertFeedForward / type.blockSize * type.blockBytes
        print(String(format: "wrote %@: %.1f MB; one expert %.2f MB, active experts per token %.1f MB over %d layers",
                     output, Double(bytes.count) / 1e6, Double(expertBytes) / 1e6,
                     Double(expertBytes * expertsUsed * layers) / 1e6, layers))
    }
}
