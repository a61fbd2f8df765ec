#if canImport(Glibc)
import Glibc
#endif

/// Page-aligned buffers for the KV cache, and mapping their pages ahead of use.
///
/// The cache stays on ordinary 4 KiB pages. Transparent huge pages (`MADV_HUGEPAGE`) were tried:
/// on these VMs a fresh 2 MiB page comes from guest memory the host has taken back (free page
/// reporting works on free 2 MiB blocks), and its first touch cost about 3.2 s per GiB against
/// 0.3 s for 4 KiB pages. That made a fresh engine 2-7% slower while its pool was first used,
/// and attention's reads were no faster on huge pages (tg64 at depth 4,096, tg32 at 16,384).
enum PageMemory {
    static let pageSize = 4096

    /// `byteCount` bytes, page-aligned when at least a page long; free with `deallocate()`.
    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        .allocate(byteCount: max(byteCount, 1), alignment: byteCount >= pageSize ? pageSize : 64)
    }

    /// Maps `range` of a buffer writable now, without changing its bytes (Linux's
    /// `MADV_POPULATE_WRITE`), so that its first use costs no page faults. False where the
    /// kernel cannot (before Linux 5.14, or elsewhere).
    @discardableResult
    static func populate(_ base: UnsafeMutableRawPointer, _ range: Range<Int>) -> Bool {
        #if os(Linux)
        // Whole pages around the range, by address: a small buffer is not page-aligned.
        let address = Int(bitPattern: base)
        let start = (address + range.lowerBound) / pageSize * pageSize
        let end = (address + range.upperBound + pageSize - 1) / pageSize * pageSize
        return madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, 23 /* MADV_POPULATE_WRITE */) == 0
        #else
        return false
        #endif
    }

    /// Whether every page of `range` of a buffer is mapped (`mincore`); false where unknown.
    static func isResident(_ base: UnsafeMutableRawPointer, _ range: Range<Int>) -> Bool {
        #if os(Linux)
        let address = Int(bitPattern: base)
        let start = (address + range.lowerBound) / pageSize * pageSize
        let end = (address + range.upperBound + pageSize - 1) / pageSize * pageSize
        var pages = [UInt8](repeating: 0, count: (end - start) / pageSize)
        guard mincore(UnsafeMutableRawPointer(bitPattern: start), end - start, &pages) == 0 else { return false }
        return pages.allSatisfy { $0 & 1 == 1 }
        #else
        return false
        #endif
    }
}
