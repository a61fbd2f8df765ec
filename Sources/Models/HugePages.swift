#if canImport(Glibc)
import Glibc
#endif

/// Large buffers on transparent huge pages where the kernel offers them on request
/// (`/sys/kernel/mm/transparent_hugepage/enabled` = madvise). A KV block's layer slices lie in
/// as many separate places as the model has layers, so a new block on 4 KiB pages costs a page
/// fault per layer slice on first touch (tens of milliseconds for a long prompt's blocks), and
/// attention's reads walk as many TLB entries; on 2 MiB pages both nearly vanish.
enum HugePages {
    static let size = 2 << 20

    /// `byteCount` bytes, 2 MiB-aligned and advised for huge pages when at least half that
    /// large, rounded up to whole huge pages (so the small caches `bench latency` makes, 1.5 MiB
    /// a layer tensor at a depth of 4,096 tokens, sit on the same pages as the engine's pool);
    /// free with `deallocate()`.
    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= size / 2 else { return .allocate(byteCount: max(byteCount, 1), alignment: 64) }
        let rounded = (byteCount + size - 1) / size * size
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: size)
        #if os(Linux)
        _ = madvise(pointer, rounded, MADV_HUGEPAGE)
        #endif
        return pointer
    }

    /// Maps `range` of a buffer writable now, without changing its bytes (Linux's
    /// `MADV_POPULATE_WRITE`), so that its first use costs no page faults. False where the
    /// kernel cannot (before Linux 5.14, or elsewhere).
    @discardableResult
    static func populate(_ base: UnsafeMutableRawPointer, _ range: Range<Int>) -> Bool {
        #if os(Linux)
        // Whole pages around the range, by address: a small buffer is not page-aligned.
        let page = 4096, address = Int(bitPattern: base)
        let start = (address + range.lowerBound) / page * page
        let end = (address + range.upperBound + page - 1) / page * page
        return madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, 23 /* MADV_POPULATE_WRITE */) == 0
        #else
        return false
        #endif
    }
}
