/// Writes GGUF version 3 files: used by tests to build tiny models and malformed variants.
public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var type: GGMLType
        public var data: [UInt8]

        public init(name: String, shape: [Int], type: GGMLType, data: [UInt8]) {
            self.name = name
            self.shape = shape
            self.type = type
            self.data = data
        }

        /// An F32 tensor from floats.
        public init(name: String, shape: [Int], floats: [Float]) {
            precondition(shape.reduce(1, *) == floats.count, "shape does not match the data of \(name)")
            var bytes: [UInt8] = []
            bytes.reserveCapacity(floats.count * 4)
            for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            self.init(name: name, shape: shape, type: .f32, data: bytes)
        }
    }

    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []
    public var alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    public mutating func add(_ tensor: Tensor) { tensors.append(tensor) }

    /// The file image.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func putValue(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): put(x)
            case .int8(let x): put(x)
            case .uint16(let x): put(x)
            case .int16(let x): put(x)
            case .uint32(let x): put(x)
            case .int32(let x): put(x)
            case .uint64(let x): put(x)
            case .int64(let x): put(x)
            case .float32(let x): put(x.bitPattern)
            case .float64(let x): put(x.bitPattern)
            case .bool(let x): put(UInt8(x ? 1 : 0))
            case .string(let s): putString(s)
            case .array(let t, let values):
                put(t.rawValue)
                put(UInt64(values.count))
                values.forEach(putValue)
            }
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }

        put(UInt32(0x4655_4747))
        put(UInt32(3))
        put(UInt64(tensors.count))
        var meta = metadata
        if alignment != 32, !meta.contains(where: { $0.0 == "general.alignment" }) {
            meta.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        put(UInt64(meta.count))
        for (key, value) in meta {
            putString(key)
            put(value.type.rawValue)
            putValue(value)
        }
        var offset = 0
        for t in tensors {
            putString(t.name)
            put(UInt32(t.shape.count))
            t.shape.forEach { put(UInt64($0)) }
            put(t.type.rawValue)
            put(UInt64(offset))
            offset += t.data.count
            offset = (offset + alignment - 1) / alignment * alignment
        }
        pad()
        for t in tensors {
            out.append(contentsOf: t.data)
            pad()
        }
        return out
    }

    /// Writes the file image to `path`.
    public func write(to path: String) throws {
        let data = bytes()
        guard let f = fopen(path, "wb") else { throw GGUFError.cannotOpen(path: path, reason: "cannot create") }
        defer { fclose(f) }
        let written = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        guard written == data.count else { throw GGUFError.cannotOpen(path: path, reason: "short write") }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
