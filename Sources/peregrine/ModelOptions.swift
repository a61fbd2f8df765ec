import ArgumentParser
import Foundation
import GGUF
import Kernels
import ModelHub
import Models
import Tokenization

/// `--model` and `--threads`, shared by the commands that load a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "A known model name (see `peregrine pull --list`) or a path to a .gguf file. Default: \(ModelRegistry.defaultModel.name).")
    var model: String?

    @Option(name: .shortAndLong, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    /// The resolved file path, fetching a known model if it is not on disk yet.
    func resolvePath() throws -> String {
        try ModelStore.fromEnvironment().resolve(model).path
    }

    func openFile() throws -> GGUFFile {
        try GGUFFile(path: resolvePath())
    }

    func threadCount() throws -> Int {
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard n >= 1, n <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
        return n
    }
}

/// A loaded model with its tokenizer, and how long loading took.
struct LoadedModel {
    let file: GGUFFile
    let model: any CausalLM
    let tokenizer: Tokenizer
    let seconds: Double
    /// The expert workers when the routed experts run on them.
    let expertParallel: ExpertParallelRuntime?

    init(_ options: ModelOptions, showProgress: Bool = true, expertParallel: ExpertParallelOptions? = nil) throws {
        let path = try options.resolvePath()
        let start = Date()
        file = try GGUFFile(path: path)
        tokenizer = try Tokenizer(metadata: file.metadata)
        let remote = expertParallel?.isEnabled ?? false
        model = try ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: try options.threadCount()), routedExperts: !remote)
        self.expertParallel = remote ? try ExpertParallelRuntime(expertParallel!, model: model, file: file, modelPath: path) : nil
        let name = URL(fileURLWithPath: path).lastPathComponent
        // The front of an expert-parallel model leaves the experts' pages to the workers.
        if !remote { _ = file.prefault { fraction in
            if showProgress { Terminal.progress("Loading \(name)", fraction) }
        } }
        seconds = Date().timeIntervalSince(start)
    }
}

enum Terminal {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A one-line progress bar on stderr, redrawn in place on a terminal (only the final
    /// state is printed when stderr is a file or pipe).
    static func progress(_ label: String, _ fraction: Double) {
        guard isatty(2) != 0 || fraction >= 1 else { return }
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let end = fraction >= 1 ? "\n" : ""
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(fraction * 100))%\(end)".utf8))
    }

    static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
