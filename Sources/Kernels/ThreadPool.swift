import CKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed pool of worker threads for data-parallel loops, tuned for the ~200 short parallel
/// regions of a decode step: workers spin briefly after each region (a wake-up costs ~0.3 µs)
/// and only then park on a condition variable (a wake-up from there costs tens of µs).
///
/// The calling thread takes part in every loop, so a pool of `threadCount` uses
/// `threadCount - 1` extra threads. Loops must not be nested; loops issued from several threads
/// at once run one after another.
///
/// A loop ends when its items are done, not when every worker has checked in: a worker that
/// another process or thread has preempted (a server's output delivery, a client on the same
/// cores) costs the loop only the item it holds, and an idle one costs nothing.
public final class ThreadPool: @unchecked Sendable {
    /// Total threads that run a loop, the caller included.
    public let threadCount: Int
    /// Closure loops handed to the workers so far. Each makes one small allocation: Swift can
    /// only pass a non-escaping closure to another thread through `withoutActuallyEscaping`,
    /// whose thunk context lives on the heap. ``ParallelLoop`` objects are handed over without.
    public private(set) var closuresHandedOff = 0

    /// Bumped for every loop; workers spin or park until it moves.
    private let generation = Atomic<Int>(0)
    /// The running loop's item count (high 32 bits) and next unclaimed item (low 32 bits), in
    /// one word so that a claim is one atomic add that cannot mix two loops: a worker that
    /// claims an item below the count holds an item of the loop that is running, and that loop
    /// cannot end (so its body cannot change) until the item is done.
    private let work = Atomic<Int>(0)
    /// Items of the running loop that are done.
    private let completed = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// The loop body, valid while a loop runs. Not an optional: a closure inside a generic type is
    /// stored at another abstraction, and converting to it allocates a thunk on every loop.
    private var body: (Int) -> Void = { _ in }
    /// The loop object, when the loop is one (then `body` is unused). Unretained: the caller holds
    /// it until the loop ends, and a reference count that both threads bump for every item costs
    /// a cache-line transfer each time (about 3% of a decode step).
    @exclusivity(unchecked) private var loop: Unmanaged<ParallelLoop>?
    /// The caller's kernel instruction-set level (`pg_isa_thread_level`), adopted by the workers.
    private var callerLevel: Int32 = -1
    // pthread objects must not move: they live in manually allocated memory, never in Swift
    // stored properties (whose address `&` does not guarantee).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Serialises loops issued from different threads (each loop still runs on every thread).
    private let callerMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []

    /// How long a worker spins for new work before parking, in nanoseconds. Long enough to bridge
    /// the serial gaps of a decode step (sampling, scheduling), short enough that an idle or
    /// oversubscribed machine does not lose whole time slices to spinning workers.
    private let spinNanoseconds: UInt64 = 1_000_000
    /// Spin iterations of the caller waiting for the workers before it starts yielding the CPU
    /// (a worker that was descheduled needs the core to finish).
    private let waitSpinLimit = 4_000

    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(callerMutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 1..<self.threadCount {
            let box = Unmanaged.passRetained(WorkerStart(pool: self))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                start.pool?.workerLoop()
                return nil
            }, box.toOpaque())
            precondition(rc == 0, "pthread_create failed")
            threads.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        pthread_mutex_destroy(callerMutex)
        wake.deallocate()
        mutex.deallocate()
        callerMutex.deallocate()
    }

    /// The workers' pthread ids (the caller's thread is not among them), for tools that watch
    /// them, such as a test's allocation counter.
    public var workerThreadIDs: [UInt] { threads.map { UInt(bitPattern: Int(bitPattern: $0)) } }

    /// Runs `body(i)` for every i in 0..<n, spread over the pool; returns when all are done.
    /// Handing the closure to the workers allocates (see ``closuresHandedOff``); the hot loops
    /// run as ``ParallelLoop`` objects instead.
    public func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        if n <= 0 { return }
        if n == 1 || threadCount == 1 {
            for i in 0..<n { body(i) }
            return
        }
        pthread_mutex_lock(callerMutex)
        defer { pthread_mutex_unlock(callerMutex) }
        closuresHandedOff += 1
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            startLoop(n)
            runItems()
            waitForItems(n)
            self.body = { _ in }
        }
    }

    /// Runs `body` once on each of the pool's threads, the caller's included (to prepare
    /// per-thread state, such as the kernels' scratch, before steady-state work is timed or
    /// counted): each thread waits after its item until all have one, so none takes two.
    public func onEveryThread(_ body: () -> Void) {
        let arrived = Atomic<Int>(0)
        parallelFor(threadCount) { _ in
            body()
            arrived.add(1, ordering: .acquiringAndReleasing)
            while arrived.load(ordering: .acquiring) < threadCount { spinPause() }
        }
    }

    /// Runs `loop.run(i)` for every i in 0..<n, spread over the pool, without allocating.
    public func parallelFor(_ n: Int, _ loop: ParallelLoop) {
        if n <= 0 { return }
        if n == 1 || threadCount == 1 {
            for i in 0..<n { loop.run(i) }
            return
        }
        pthread_mutex_lock(callerMutex)
        defer { pthread_mutex_unlock(callerMutex) }
        withExtendedLifetime(loop) {
            self.loop = Unmanaged.passUnretained(loop)
            startLoop(n)
            runItems()
            waitForItems(n)
            self.loop = nil
        }
    }

    /// Publishes a loop of `n` items to the workers (the caller holds `callerMutex`).
    private func startLoop(_ n: Int) {
        precondition(n < 1 << 31, "too many items for one loop")
        callerLevel = pg_isa_thread_level()
        completed.store(0, ordering: .relaxed)
        work.store(n << 32, ordering: .releasing)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
    }

    private func waitForItems(_ n: Int) {
        var spins = 0
        while completed.load(ordering: .acquiring) < n {
            spins += 1
            if spins < waitSpinLimit { spinPause() } else { sched_yield() }
        }
    }

    /// Splits 0..<total into contiguous ranges (about `chunksPerThread` per thread, each a
    /// multiple of `granularity` except the last) and runs `body` on each.
    public func parallelRanges(_ total: Int, granularity: Int = 1, chunksPerThread: Int = 4, _ body: (Range<Int>) -> Void) {
        let split = RangeSplit(total, granularity: granularity, chunksPerThread: chunksPerThread, threads: threadCount)
        parallelFor(split.count) { i in body(split.range(i)) }
    }

    /// Claims and runs items of the running loop until none is left. The loop's body and level
    /// are read after each claim: a late worker may claim an item of a newer loop than the one
    /// it woke for, and that is the loop it must run.
    private func runItems() {
        while true {
            let claim = work.add(1, ordering: .acquiringAndReleasing).oldValue
            let i = claim & 0xFFFF_FFFF
            if i >= claim >> 32 { return }
            if pg_isa_thread_level() != callerLevel { pg_isa_set_thread_level(callerLevel) }
            if let loop { loop._withUnsafeGuaranteedRef { $0.run(i) } } else { body(i) }
            completed.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var spins = 0
            var deadline: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins & 255 != 0 { spinPause(); continue }
                let now = monotonicNanoseconds()
                if deadline == 0 { deadline = now + spinNanoseconds }
                if now < deadline { continue }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(wake, mutex)
                }
                sleepers.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            runItems()
        }
    }

    private final class WorkerStart {
        weak var pool: ThreadPool?
        init(pool: ThreadPool) { self.pool = pool }
    }
}

/// A loop body as an object: the pool hands it to its workers unretained, which allocates nothing
/// (a closure needs a heap thunk) and touches no reference count. Subclass it, set the loop's
/// inputs, then `pool.parallelFor(n, loop)`. A class, not a protocol: an existential cannot be
/// held unmanaged.
open class ParallelLoop: @unchecked Sendable {
    public init() {}

    /// Runs item `index` of the loop; called on any of the pool's threads.
    open func run(_ index: Int) {}
}

/// `0..<total` cut into `count` contiguous ranges of whole `granularity` units (about
/// `chunksPerThread` per thread; the last range may be short).
public struct RangeSplit: Sendable {
    public let total: Int
    public let count: Int
    private let span: Int

    public init(_ total: Int, granularity: Int = 1, chunksPerThread: Int = 4, threads: Int) {
        self.total = max(0, total)
        let units = (self.total + granularity - 1) / granularity
        let chunks = max(1, min(units, threads * chunksPerThread))
        let perChunk = max(1, (units + chunks - 1) / chunks)
        span = perChunk * granularity
        count = units == 0 ? 0 : (units + perChunk - 1) / perChunk
    }

    public func range(_ i: Int) -> Range<Int> {
        let lo = i * span
        return lo..<min(total, lo + span)
    }
}

@inline(__always) func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

@inline(__always) func spinPause() {
    pg_cpu_relax()
}
