/// A bounds-checked little-endian cursor over raw bytes; every read past the end throws.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ base: UnsafeRawBufferPointer) { self.base = base }

    var remaining: Int { base.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(what: what(), offset: offset) }
        let value = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    mutating func readString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = offset
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            if length > 1 << 40 { throw .absurdCount(what: "string length of \(what())", count: length) }
            throw .truncated(what: what(), offset: start)
        }
        let bytes = UnsafeRawBufferPointer(rebasing: base[offset..<offset + Int(length)])
        guard let s = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .invalidString(what: what(), offset: offset)
        }
        offset += Int(length)
        return s
    }

    mutating func align(to alignment: Int) {
        let rem = offset % alignment
        if rem != 0 { offset += alignment - rem }
    }
}
