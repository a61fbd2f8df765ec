import ArgumentParser
import GGUF
import ModelHub

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
        out += "\n"
        let width = file.tensors.map(\.name.count).max() ?? 0
        for t in file.tensors {
            let name = t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let type = t.type.name.padding(toLength: 5, withPad: " ", startingAt: 0)
            out += "\(name)  \(type)  \(t.shape)  \(t.byteCount) bytes @ \(t.offset)\n"
        }
        Terminal.stdout(out)
    }
}
