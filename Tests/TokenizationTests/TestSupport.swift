import Foundation
import GGUF
import TestSupport
import Testing
import Tokenization

/// Where the test data lives, and the real model's tokenizer, loaded once.
enum TestSupport {
    /// The package root, derived from this file's path (`<root>/Tests/TokenizationTests/TestSupport.swift`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/golden` next to the package.
    static let goldenDirectory = packageRoot.appendingPathComponent("../shared/golden").standardizedFileURL

    /// `PEREGRINE_MODEL`, else the default model under `PEREGRINE_HOME` or `~/.cache/peregrine`.
    static let modelPath: String = {
        let env = ProcessInfo.processInfo.environment
        if let path = env["PEREGRINE_MODEL"], !path.isEmpty { return path }
        let relative = "models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
        if let home = env["PEREGRINE_HOME"], !home.isEmpty { return home + "/" + relative }
        let userHome = env["HOME"] ?? NSHomeDirectory()
        return userHome + "/.cache/peregrine/" + relative
    }()

    struct MissingFixture: Error, CustomStringConvertible {
        var description: String
    }

    private static let loaded: Result<Tokenizer, any Error> = Result {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw MissingFixture(description: "model not found at \(modelPath) (set PEREGRINE_MODEL or PEREGRINE_HOME)")
        }
        return try Tokenizer(metadata: GGUFFile(path: modelPath).metadata)
    }

    /// The SmolLM2 tokenizer; throws a clear error if the model is missing.
    static func modelTokenizer() throws -> Tokenizer {
        try loaded.get()
    }

    /// The golden tokenization files, sorted by name; throws if the directory is missing or empty.
    static func goldenTokenizeFiles() throws -> [URL] {
        let directory = goldenDirectory.appendingPathComponent("tokenize")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            throw MissingFixture(description: "golden directory not found at \(directory.path)")
        }
        let files = names.filter { $0.hasSuffix(".json") }.sorted().map { directory.appendingPathComponent($0) }
        guard !files.isEmpty else { throw MissingFixture(description: "no golden files in \(directory.path)") }
        return files
    }

    /// The license corpus of the perplexity protocol (golden/README.md).
    static func licenseCorpus() throws -> String {
        let names = ["GPL-3", "GPL-2", "LGPL-2.1", "Apache-2.0", "MPL-2.0", "GFDL-1.3"]
        var text = ""
        for name in names {
            let path = "/usr/share/common-licenses/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw MissingFixture(description: "license file missing: \(path)")
            }
            text += String(decoding: data, as: UTF8.self)
        }
        return text
    }
}

/// The shared seeded generator (SplitMix64), so that failures reproduce.
typealias SeededGenerator = SeededRandom
