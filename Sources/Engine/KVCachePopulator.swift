import Dispatch
import Foundation
import Models
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Maps the KV cache's pages a little ahead of the blocks the pool has handed out, on a thread
/// that runs only when a core would otherwise idle.
///
/// A fresh pool hands out never-used blocks first, lowest ids first (``BlockPool``), so until
/// the pool has gone round once every new block's first write faults and zeroes its pages inside
/// a forward pass (2% of a freshly started server's decode at concurrency 1, measured when the
/// cache was on huge pages), and the pass's other thread stalls while the faulting one waits.
/// Mapping them on an idle core beforehand removes that from the steps while the process's
/// memory grows only by `aheadBlocks` blocks beyond what it has used.
final class KVCachePopulator: @unchecked Sendable {
    private let cache: KVCache
    private let aheadBlocks: Int
    /// Blocks [0, target) should be mapped.
    private let target = Atomic<Int>(0)
    /// Blocks [0, mapped) are mapped (only the populator's thread writes it).
    private let mapped = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the populator's thread, which maps the first `aheadBlocks` blocks at once.
    init(cache: KVCache, aheadBlocks: Int) {
        self.cache = cache
        self.aheadBlocks = max(1, min(aheadBlocks, cache.numBlocks))
        target.store(self.aheadBlocks, ordering: .relaxed)
        let thread = Thread { [self] in run() }
        thread.name = "peregrine.kv-ahead"
        thread.start()
    }

    /// Stops the thread (after the chunk it is mapping) and waits for it.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
        finished.wait()
    }

    /// Blocks the populator has mapped so far.
    var mappedBlocks: Int { mapped.load(ordering: .acquiring) }

    /// Keeps `aheadBlocks` blocks mapped beyond `highWater` (one past the highest block id handed
    /// out). Cheap enough for every step: it wakes the thread only when half the margin is used.
    func keepAhead(of highWater: Int) {
        let wanted = min(cache.numBlocks, highWater + aheadBlocks)
        guard wanted > target.load(ordering: .relaxed), highWater + aheadBlocks / 2 >= target.load(ordering: .relaxed) else { return }
        target.store(wanted, ordering: .releasing)
        wake.signal()
    }

    private func run() {
        defer { finished.signal() }
        #if os(Linux)
        var param = sched_param()
        _ = sched_setscheduler(0, 5 /* SCHED_IDLE */, &param)
        #endif
        let chunk = 16
        while !stopping.load(ordering: .acquiring) {
            let start = mapped.load(ordering: .relaxed), end = target.load(ordering: .acquiring)
            if start >= end {
                if start >= cache.numBlocks { return }
                wake.wait()
                continue
            }
            let stop = min(end, start + chunk)
            // Where the kernel cannot map ahead, the steps map on first use, as before.
            guard cache.populate(blocks: start..<stop) else { return }
            mapped.store(stop, ordering: .releasing)
        }
    }
}
