import GGUF
import Kernels

/// One routed expert's gated MLP: slices of a MoE layer's `ffn_{gate,up,down}_exps` tensors.
public struct ExpertMLP: @unchecked Sendable {
    public let gate, up, down: WeightMatrix

    /// Whether all three matrices have the interleaved layout (activations as 8-bit blocks).
    public var isInterleaved: Bool { gate.isFullyInterleaved && up.isFullyInterleaved && down.isFullyInterleaved }

    /// Binds (and repacks) only expert `expert` of decoder block `layer`: what an expert worker
    /// holds of the file. Throws for a dense model, a missing tensor or an expert out of range.
    public static func load(file: GGUFFile, config c: ModelConfig, layer: Int, expert: Int) throws(ModelError) -> ExpertMLP {
        guard let e = c.experts else { throw .invalidConfig("the model has no routed experts") }
        guard layer >= 0, layer < c.numLayers, expert >= 0, expert < e.numExperts else {
            throw .invalidConfig("expert \(expert) of layer \(layer) is outside the model's \(c.numLayers) layers × \(e.numExperts) experts")
        }
        let loader = WeightLoader(file: file), p = "blk.\(layer)."
        let d = c.hiddenSize, f = e.expertFeedForward
        return ExpertMLP(gate: try loader.expert(p + "ffn_gate_exps.weight", expert, of: e.numExperts, rows: f, columns: d),
                         up: try loader.expert(p + "ffn_up_exps.weight", expert, of: e.numExperts, rows: f, columns: d),
                         down: try loader.expert(p + "ffn_down_exps.weight", expert, of: e.numExperts, rows: d, columns: f))
    }

    /// Whether the routed experts of decoder block `layer` have the interleaved layout once
    /// loaded, read from the tensors' types alone (the front of an expert-parallel model decides
    /// how to send activations without binding the experts).
    static func interleaves(file: GGUFFile, config c: ModelConfig, layer: Int) -> Bool {
        guard let e = c.experts else { return false }
        let p = "blk.\(layer).", d = c.hiddenSize, f = e.expertFeedForward
        return [("ffn_gate_exps", f, d), ("ffn_up_exps", f, d), ("ffn_down_exps", d, f)].allSatisfy { name, rows, columns in
            guard let info = file.tensorInfo(p + name + ".weight") else { return false }
            return WeightMatrix.isFullyInterleaved(type: info.type, rows: rows, columns: columns)
        }
    }
}
