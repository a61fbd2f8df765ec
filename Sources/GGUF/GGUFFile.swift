/// A parsed GGUF file (versions 2 and 3): metadata, tensor table and memory-mapped tensor data.
///
/// Parsing validates everything it reads: a malformed file yields a ``GGUFError`` naming what is
/// wrong, never a crash or a huge allocation. Tensor data is not copied; ``tensorData(_:)`` points
/// into the mapping, which lives as long as this object.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the data section within the file.
    public let dataOffset: Int
    private let storage: ByteStorage
    private let tensorIndex: [String: Int]

    /// Opens and memory-maps the file at `path`.
    public convenience init(path: String) throws(GGUFError) {
        try self.init(storage: ByteStorage.map(path: path))
    }

    /// Parses a GGUF image held in memory (copied).
    public convenience init(bytes: some Collection<UInt8>) throws(GGUFError) {
        try self.init(storage: ByteStorage.copy(of: bytes))
    }

    private init(storage: ByteStorage) throws(GGUFError) {
        self.storage = storage
        var r = ByteReader(storage.bytes)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else { throw .badMagic(found: magic) }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // Each key/value pair takes at least 12 bytes and each tensor info at least 24.
        guard kvCount <= UInt64(r.remaining / 12) else { throw .absurdCount(what: "metadata count", count: kvCount) }
        guard tensorCount <= UInt64(r.remaining / 24) else { throw .absurdCount(what: "tensor count", count: tensorCount) }

        var entries: [(String, GGUFValue)] = []
        var seen = Set<String>()
        for i in 0..<Int(kvCount) {
            let key = try r.readString("metadata key #\(i)")
            guard seen.insert(key).inserted else { throw .duplicateKey(key) }
            let rawType = try r.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else { throw .unknownValueType(key: key, type: rawType) }
            entries.append((key, try Self.readValue(type, key: key, depth: 0, from: &r)))
        }
        metadata = GGUFMetadata(entries)

        var align = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw .badAlignment(UInt64(truncatingIfNeeded: a.intValue ?? 0))
            }
            align = v
        }
        alignment = align

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let info = try Self.readTensorInfo(number: i, alignment: align, from: &r)
            guard index[info.name] == nil else { throw .duplicateTensor(info.name) }
            index[info.name] = infos.count
            infos.append(info)
        }
        r.align(to: align)
        dataOffset = min(r.offset, storage.bytes.count)
        let dataSize = storage.bytes.count - dataOffset
        for t in infos {
            let (end, overflow) = t.offset.addingReportingOverflow(t.byteCount)
            guard !overflow, end <= dataSize else {
                throw .tensorOutOfBounds(tensor: t.name, offset: UInt64(t.offset), size: UInt64(t.byteCount), dataSize: UInt64(dataSize))
            }
        }
        tensors = infos
        tensorIndex = index
    }

    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The bytes of a tensor, inside the memory mapping.
    public func tensorData(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<start + info.byteCount])
    }

    /// Size of the whole file in bytes.
    public var fileSize: Int { storage.bytes.count }

    private static func readValue(_ type: GGUFValueType, key: String, depth: Int, from r: inout ByteReader) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self, key))
        case .int8: return .int8(try r.read(Int8.self, key))
        case .uint16: return .uint16(try r.read(UInt16.self, key))
        case .int16: return .int16(try r.read(Int16.self, key))
        case .uint32: return .uint32(try r.read(UInt32.self, key))
        case .int32: return .int32(try r.read(Int32.self, key))
        case .uint64: return .uint64(try r.read(UInt64.self, key))
        case .int64: return .int64(try r.read(Int64.self, key))
        case .float32: return .float32(Float(bitPattern: try r.read(UInt32.self, key)))
        case .float64: return .float64(Double(bitPattern: try r.read(UInt64.self, key)))
        case .bool: return .bool(try r.read(UInt8.self, key) != 0)
        case .string: return .string(try r.readString(key))
        case .array:
            guard depth < 8 else { throw .absurdCount(what: "array nesting depth of '\(key)'", count: UInt64(depth)) }
            let rawType = try r.read(UInt32.self, "array type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else { throw .unknownValueType(key: key, type: rawType) }
            let count = try r.read(UInt64.self, "array length of '\(key)'")
            guard count <= UInt64(r.remaining / elementType.minimumSize) else {
                throw .absurdCount(what: "array length of '\(key)'", count: count)
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(elementType, key: key, depth: depth + 1, from: &r))
            }
            return .array(elementType: elementType, values: values)
        }
    }

    private static func readTensorInfo(number: Int, alignment: Int, from r: inout ByteReader) throws(GGUFError) -> GGUFTensorInfo {
        let name = try r.readString("name of tensor #\(number)")
        let nDims = try r.read(UInt32.self, "dimension count of '\(name)'")
        guard nDims >= 1, nDims <= 4 else { throw .tooManyDimensions(tensor: name, count: nDims) }
        var dims: [UInt64] = []
        for _ in 0..<nDims { dims.append(try r.read(UInt64.self, "shape of '\(name)'")) }
        let rawType = try r.read(UInt32.self, "type of '\(name)'")
        guard let type = GGMLType(rawValue: rawType), type != .q8_1, type != .q8_K else {
            throw .unknownTensorType(tensor: name, type: rawType)
        }
        let offset = try r.read(UInt64.self, "offset of '\(name)'")
        var count: UInt64 = 1
        for d in dims {
            let (c, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, d > 0, d < 1 << 40, c < 1 << 42 else { throw .badShape(tensor: name, dims: dims) }
            count = c
        }
        guard dims[0] % UInt64(type.blockSize) == 0 else { throw .badShape(tensor: name, dims: dims) }
        guard offset % UInt64(alignment) == 0 else { throw .misalignedTensor(tensor: name, offset: offset) }
        guard offset < 1 << 50 else { throw .tensorOutOfBounds(tensor: name, offset: offset, size: 0, dataSize: 0) }
        return GGUFTensorInfo(name: name, shape: dims.map { Int($0) }, type: type, offset: Int(offset))
    }
}

extension GGUFFile {
    /// Reads one byte of every page of the tensor data so the weights are resident before the
    /// first forward pass; `progress` gets the fraction done (0…1) every few percent.
    public func prefault(progress: (Double) -> Void = { _ in }) -> UInt8 {
        let bytes = storage.bytes
        let page = 4096, total = bytes.count - dataOffset
        guard total > 0 else { progress(1); return 0 }
        var checksum: UInt8 = 0
        let step = max(total / 50, page)
        var next = step
        var offset = dataOffset
        while offset < bytes.count {
            checksum &+= bytes[offset]
            offset += page
            if offset - dataOffset >= next { progress(Double(offset - dataOffset) / Double(total)); next += step }
        }
        progress(1)
        return checksum
    }
}
