import ArgumentParser
import GGUF
import ModelHub
import Models

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print a GGUF file's metadata and tensor table.")

    @Argument(help: "A known model name or a path to a .gguf file (default: \(ModelRegistry.defaultModel.name)).")
    var model: String?

    func run() throws {
        let path = try ModelStore.fromEnvironment().resolve(model).path
        let file = try GGUFFile(path: path)
        var out = "\(path)\nGGUF version \(file.version), \(file.metadata.entries.count) metadata keys, \(file.tensors.count) tensors, alignment \(file.alignment)\n\n"
        for (key, value) in file.metadata.entries {
            var text = value.description
            if text.count > 160 { text = String(text.prefix(157)) + "…" }
            out += "\(key) = \(text.replacingOccurrences(of: "\n", with: "\\n"))\n"
        }
        out += "\n" + Self.layerPattern(file.metadata) + "\n"
        let width = file.tensors.map(\.name.count).max() ?? 0
        for t in file.tensors {
            let name = t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let type = t.type.name.padding(toLength: 5, withPad: " ", startingAt: 0)
            out += "\(name)  \(type)  \(t.shape)  \(t.byteCount) bytes @ \(t.offset)\n"
        }
        Terminal.stdout(out)
    }

    /// The decoder's layers as the architecture reads them: attention type per layer, the
    /// window, the rope bases and the KV cache groups (or why the file cannot be run).
    static func layerPattern(_ metadata: GGUFMetadata) -> String {
        let c: ModelConfig
        do { c = try ModelArchitectures.config(of: metadata) } catch { return "layers: cannot run this file: \(error)\n" }
        let letters = c.layerTypes.map { $0 == .full ? "G" : "S" }.joined()
        var out = "architecture \(c.architecture): \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads / \(c.numKVHeads) KV heads of \(c.headDim)\n"
        out += "layer pattern (G global, S sliding): \(letters)\n"
        let windows = Set(c.layerTypes.compactMap(\.window)).sorted()
        if windows.isEmpty {
            out += "attention: full on every layer, rope base \(c.ropeBase)\n"
        } else {
            let sliding = c.layerTypes.indices.filter { c.layerTypes[$0] != .full }
            let global = c.layerTypes.indices.filter { c.layerTypes[$0] == .full }
            out += "sliding window \(windows.map(String.init).joined(separator: ", ")) on layers \(sliding.map(String.init).joined(separator: ",")), rope base \(c.ropeBaseSliding)\n"
            out += "global on layers \(global.map(String.init).joined(separator: ",")), rope base \(c.ropeBase)\n"
        }
        let layout = c.kvCacheLayout
        out += "KV cache groups: \(layout.groups.map { "\($0.attention) \($0.layers)" }.joined(separator: "; "))\n"
        return out
    }
}
