/// `0..<total` cut into contiguous ranges that shrink as they go (guided self-scheduling): each
/// range is a `2 · threads`-th of what is left, in whole `granularity` units, and at least a
/// `smallestPerThread · threads`-th of the whole (more where that many ranges would not fit
/// ``capacity``). Threads that claim ranges in order start on large ones and finish on small
/// ones, so they finish nearly together with few claims; equal ranges leave the last thread
/// with up to a whole range to run alone.
public struct GuidedSplit: Sendable {
    /// Most ranges a split holds.
    public static let capacity = 128
    /// The length of the range that was cut.
    public let total: Int
    /// Ranges in the split.
    public private(set) var count = 0
    private let granularity: Int
    /// End of range i, in units.
    private var ends = InlineArray<128, Int32>(repeating: 0)

    /// Cuts `0..<total` for `threads` threads; every range but the last is whole `granularity` units.
    public init(_ total: Int, granularity: Int = 1, threads: Int, smallestPerThread: Int = 16) {
        self.total = max(0, total)
        self.granularity = max(1, granularity)
        let units = (self.total + self.granularity - 1) / self.granularity
        var smallest = max(1, units / max(1, smallestPerThread * threads))
        while !cut(units, divisor: 2 * max(1, threads), smallest: smallest) { smallest *= 2 }
    }

    /// Fills `ends`; false if the ranges would not fit.
    private mutating func cut(_ units: Int, divisor: Int, smallest: Int) -> Bool {
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
