/// Everything that can be wrong with a GGUF file, each case naming what and where.
public enum GGUFError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case truncated(what: String, offset: Int)
    case absurdCount(what: String, count: UInt64)
    case invalidString(what: String, offset: Int)
    case unknownValueType(key: String, type: UInt32)
    case unknownTensorType(tensor: String, type: UInt32)
    case badAlignment(UInt64)
    case tooManyDimensions(tensor: String, count: UInt32)
    case badShape(tensor: String, dims: [UInt64])
    case misalignedTensor(tensor: String, offset: UInt64)
    case tensorOutOfBounds(tensor: String, offset: UInt64, size: UInt64, dataSize: UInt64)
    case duplicateKey(String)
    case duplicateTensor(String)
    case missingKey(String)
    case wrongValueType(key: String, expected: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .badMagic(let m): "not a GGUF file (magic 0x\(String(m, radix: 16)))"
        case .unsupportedVersion(let v): "unsupported GGUF version \(v) (2 and 3 are supported)"
        case .truncated(let what, let offset): "file truncated while reading \(what) at byte \(offset)"
        case .absurdCount(let what, let count): "absurd \(what): \(count)"
        case .invalidString(let what, let offset): "invalid UTF-8 in \(what) at byte \(offset)"
        case .unknownValueType(let key, let type): "unknown metadata value type \(type) for key '\(key)'"
        case .unknownTensorType(let tensor, let type): "tensor '\(tensor)' has unknown type \(type)"
        case .badAlignment(let a): "general.alignment \(a) is not a power of two"
        case .tooManyDimensions(let tensor, let n): "tensor '\(tensor)' has \(n) dimensions (at most 4)"
        case .badShape(let tensor, let dims): "tensor '\(tensor)' has an invalid shape \(dims)"
        case .misalignedTensor(let tensor, let offset): "tensor '\(tensor)' data offset \(offset) is not aligned"
        case .tensorOutOfBounds(let tensor, let offset, let size, let dataSize):
            "tensor '\(tensor)' (offset \(offset), \(size) bytes) lies past the end of the data section (\(dataSize) bytes)"
        case .duplicateKey(let k): "duplicate metadata key '\(k)'"
        case .duplicateTensor(let t): "duplicate tensor '\(t)'"
        case .missingKey(let k): "missing metadata key '\(k)'"
        case .wrongValueType(let k, let e): "metadata key '\(k)' is not \(e)"
        }
    }
}
