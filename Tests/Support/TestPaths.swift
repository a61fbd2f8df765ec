import Foundation
import GGUF

/// Paths the tests need: the default model (fetched by `.ci/run` or `peregrine pull`) and the golden data.
public enum TestPaths {
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let golden = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/golden")
    public static let scripts = packageRoot.appendingPathComponent("Scripts")

    /// The default model (`peregrine pull`), or `$PEREGRINE_MODEL`.
    public static var defaultModel: String {
        model(override: "PEREGRINE_MODEL", inStore: "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// The second real model, Gemma 3 270M Q4_K_M (`peregrine pull gemma3-270m`), or `$PEREGRINE_GEMMA_MODEL`.
    public static var gemmaModel: String {
        model(override: "PEREGRINE_GEMMA_MODEL", inStore: "gemma3-270m/gemma-3-270m-q4_k_m.gguf")
    }

    /// `$override`, else the file in the model store (`$PEREGRINE_HOME/models`, default `~/.cache/peregrine/models`).
    static func model(override: String, inStore file: String) -> String {
        let env = ProcessInfo.processInfo.environment
        if let path = env[override] { return path }
        let home = env["PEREGRINE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/peregrine")
        return home.appendingPathComponent("models/" + file).path
    }

    public static func goldenFiles(_ folder: String) throws -> [URL] {
        let dir = golden.appendingPathComponent(folder)
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
        guard !files.isEmpty else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: dir.path]) }
        return files
    }
}

/// A seeded generator (SplitMix64), so random tests reproduce.
public struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
