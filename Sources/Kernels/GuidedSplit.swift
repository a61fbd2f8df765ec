/// `0..<total` cut into contiguous ranges that shrink as they go (guided self-scheduling): each
/// range is a `2 · threads`-th of what is left, in whole `granularity` units, and at least a
/// `smallestPerThread · threads`-th of the whole (more where that many ranges would not fit
/// ``capacity``). Threads that claim ranges in order start on large ones and finish on small
/// ones, so they finish nearly together with few claims; equal ranges leave the last thread
/// with up to a whole range to run alone.
///
/// A parallel loop keeps one and cuts it again for each region (``cut(_:granularity:threads:smallestPerThread:)``),
/// so a region allocates nothing; the workers read it while the region runs. It is a class, not
/// a struct holding its table inline: a claim read such a struct out of the loop object whole
/// (its 512-byte table copied twice a claim, 0.7% of a decode step in `memmove`).
public final class GuidedSplit: @unchecked Sendable {
    /// Most ranges a split holds.
    public static let capacity = 128
    /// The length of the range that was cut.
    public private(set) var total = 0
    /// Ranges in the split.
    public private(set) var count = 0
    private var granularity = 1
    /// End of range i, in units.
    private let ends = UnsafeMutablePointer<Int32>.allocate(capacity: GuidedSplit.capacity)

    /// An empty split (no ranges) to cut later.
    public init() {}

    /// `0..<total` cut for `threads` threads (see ``cut(_:granularity:threads:smallestPerThread:)``).
    public convenience init(_ total: Int, granularity: Int = 1, threads: Int, smallestPerThread: Int = 16) {
        self.init()
        cut(total, granularity: granularity, threads: threads, smallestPerThread: smallestPerThread)
    }

    deinit { ends.deallocate() }

    /// Cuts `0..<total` for `threads` threads, replacing the ranges it held; every range but the
    /// last is whole `granularity` units.
    public func cut(_ total: Int, granularity: Int = 1, threads: Int, smallestPerThread: Int = 16) {
        self.total = max(0, total)
        self.granularity = max(1, granularity)
        let units = (self.total + self.granularity - 1) / self.granularity
        var smallest = max(1, units / max(1, smallestPerThread * threads))
        while !fill(units, divisor: 2 * max(1, threads), smallest: smallest) { smallest *= 2 }
    }

    /// Fills `ends`; false if the ranges would not fit.
    private func fill(_ units: Int, divisor: Int, smallest: Int) -> Bool {
        count = 0
        var end = 0
        while end < units {
            guard count < Self.capacity else { return false }
            end = min(units, end + max(smallest, (units - end + divisor - 1) / divisor))
            ends[count] = Int32(end)
            count += 1
        }
        return true
    }

    /// Range `i` (0 ≤ i < ``count``), in order.
    public func range(_ i: Int) -> Range<Int> {
        let lo = i == 0 ? 0 : Int(ends[i - 1]) * granularity
        return lo..<min(total, Int(ends[i]) * granularity)
    }
}
