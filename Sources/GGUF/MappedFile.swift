#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes of a file or of an owned buffer. Files are memory-mapped, never copied.
final class ByteStorage: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let release: () -> Void

    private init(bytes: UnsafeRawBufferPointer, release: @escaping () -> Void) {
        self.bytes = bytes
        self.release = release
    }

    deinit { release() }

    static func map(path: String) throws(GGUFError) -> ByteStorage {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 { return ByteStorage(bytes: UnsafeRawBufferPointer(start: nil, count: 0), release: {}) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        return ByteStorage(bytes: UnsafeRawBufferPointer(start: p, count: size)) { munmap(p, size) }
    }

    static func copy(of bytes: some Collection<UInt8>) -> ByteStorage {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        buffer.copyBytes(from: bytes)
        return ByteStorage(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])) { buffer.deallocate() }
    }
}
