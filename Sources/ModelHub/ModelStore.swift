import Foundation

/// Where models live on disk: `$PEREGRINE_HOME/models` or `~/.cache/peregrine/models`,
/// one folder per known model.
public struct ModelStore: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// The store named by the environment.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> ModelStore {
        if let home = env["PEREGRINE_HOME"], !home.isEmpty {
            return ModelStore(root: URL(fileURLWithPath: home).appendingPathComponent("models"))
        }
        let base = env["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return ModelStore(root: base.appendingPathComponent(".cache/peregrine/models"))
    }

    public func path(for model: KnownModel) -> URL {
        root.appendingPathComponent(model.name).appendingPathComponent(model.fileName)
    }

    public func isPresent(_ model: KnownModel) -> Bool {
        FileManager.default.fileExists(atPath: path(for: model).path)
    }

    /// Resolves `--model`: a path to a local GGUF file, or a known name (fetched if missing).
    /// `nil` means the default model.
    public func resolve(_ nameOrPath: String?, progress: DownloadProgress = .stderr) throws(ModelHubError) -> URL {
        let spec = nameOrPath ?? ModelRegistry.defaultModel.name
        if let known = ModelRegistry.model(named: spec) {
            if !isPresent(known) { try ModelDownloader(store: self, progress: progress).pull(known) }
            return path(for: known)
        }
        let looksLikePath = spec.contains("/") || spec.hasSuffix(".gguf")
        guard looksLikePath else { throw .unknownModel(spec) }
        guard FileManager.default.fileExists(atPath: spec) else { throw .fileNotFound(spec) }
        try Self.checkMagic(URL(fileURLWithPath: spec))
        return URL(fileURLWithPath: spec)
    }

    /// Throws `.notGGUF` unless the file starts with the GGUF magic.
    static func checkMagic(_ url: URL) throws(ModelHubError) {
        guard let handle = try? FileHandle(forReadingFrom: url) else { throw .fileNotFound(url.path) }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        guard head == Data("GGUF".utf8) else { throw .notGGUF(url.path) }
    }
}
