import GGUF

/// Why a model could not be built from a GGUF file.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case missingKey(String)
    case invalidConfig(String)
    case missingTensor(String)
    case tensorShape(name: String, expected: [Int], found: [Int])
    case unsupportedTensorType(name: String, type: String)
    case file(GGUFError)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a): "unsupported architecture '\(a)' (supported: \(ModelArchitectures.supported.joined(separator: ", ")))"
        case .missingKey(let k): "missing metadata key '\(k)'"
        case .invalidConfig(let why): "invalid model configuration: \(why)"
        case .missingTensor(let n): "missing tensor '\(n)'"
        case .tensorShape(let n, let e, let f): "tensor '\(n)' has shape \(f), expected \(e)"
        case .unsupportedTensorType(let n, let t): "tensor '\(n)' has type \(t), which this tensor cannot use"
        case .file(let e): e.description
        }
    }
}
