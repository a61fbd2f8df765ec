import Foundation

/// The rows of one MoE layer's pass bound for routed experts: one row per (token, expert) pair,
/// gathered and grouped by physical slot (the rows of slot `s` are `slotStart[s] ..<
/// slotStart[s] + slotRows[s]`), with the output rows to fill in the same order.
public struct ExpertBatch {
    /// The MoE layer (decoder block) of the pass.
    public let layer: Int
    public let numSlots: Int
    public let slotRows: UnsafePointer<Int32>
    public let slotStart: UnsafePointer<Int32>
    /// The logical expert each slot serves in the router's map at the time of the pass.
    public let slotExperts: ArraySlice<Int32>
    public let rows: Int
    /// `rows × rowBytes`: 8-bit blocks of 32 (`quantized`, for experts with interleaved kernels) or floats.
    public let input: UnsafeRawPointer
    public let rowBytes: Int
    public let quantized: Bool
    /// `rows × hidden` floats: each row's expert output.
    public let output: UnsafeMutablePointer<Float>
    public let hidden: Int
}

/// Where the routed experts of a model run when they are not in this process: expert parallelism
/// (DeepEP's dispatch and combine). A model whose ``ExpertRouter`` has a dispatcher sends each
/// MoE layer's rows through it; the router's map says which slot (and so which rank) serves each row.
///
/// Calls come from the thread that runs the forward pass, one at a time; placement calls come
/// between passes, on the same thread.
public protocol ExpertDispatcher: AnyObject, Sendable {
    /// Sends every row of `batch` to the rank that holds its slot and returns at once, with a
    /// ticket for ``finish(_:)``; the batch's buffers must stay put until then. Two may be in
    /// flight (two micro-batches overlapping: one's experts run while the other's attention does).
    func start(_ batch: ExpertBatch) -> ExpertTicket

    /// Waits until every output row of the ticket's batch is in place. Returns false when a rank
    /// failed or missed its deadline, or an earlier layer of the same pass did: the outputs are
    /// then undefined and ``takeFailure()`` says why.
    func finish(_ ticket: ExpertTicket) -> Bool

    /// What made the last pass fail (nil if nothing did); clears it, so the next pass runs again.
    func takeFailure() -> String?

    /// Starts moving weights for a new placement (L × R logical experts, the router's layout):
    /// each rank loads what it lacks beside what it holds and keeps serving the current map.
    func prepare(physicalToLogical map: [Int])

    /// How the placement of the last ``prepare(physicalToLogical:)`` is coming along.
    var preparation: ExpertPreparation { get }

    /// The prepared placement (``ExpertPreparation/ready``) is now the router's: ranks drop the
    /// experts no longer placed on them.
    func commit()

    /// Per-rank counters (rows, compute and wait time, bytes) and the ranks' health.
    var stats: ExpertDispatchStats { get }
}

/// A batch of rows handed to an ``ExpertDispatcher`` and not yet finished.
public struct ExpertTicket: Sendable, Equatable {
    public var id: Int

    public init(id: Int) { self.id = id }
}

extension ExpertDispatcher {
    /// Has every row of `batch` computed by the rank that holds its slot, runs `overlap` while
    /// the ranks compute (work of this process that does not need their results), and returns
    /// ``finish(_:)``'s answer.
    public func dispatch(_ batch: ExpertBatch, overlap: () -> Void) -> Bool {
        let ticket = start(batch)
        overlap()
        return finish(ticket)
    }

    /// Prepares `map`, waits until every rank holds it and commits it (a first placement, before
    /// any pass runs). Throws when a rank cannot take it.
    public func place(_ map: [Int]) throws(ModelError) {
        prepare(physicalToLogical: map)
        while true {
            switch preparation {
            case .ready:
                commit()
                return
            case .failed(let why): throw .invalidConfig("the expert workers could not take the placement: \(why)")
            case .pending: usleep(2000)
            case .none: return
            }
        }
    }
}

/// Where a prepared placement stands.
public enum ExpertPreparation: Sendable, Equatable {
    /// No placement is pending.
    case none
    /// Some rank is still loading its experts.
    case pending
    /// Every live rank holds the placement's experts: it can be committed.
    case ready
    /// A rank could not load its experts (or is gone): the placement is dropped, the current one stays.
    case failed(String)
}

/// What an expert dispatcher has done so far.
public struct ExpertDispatchStats: Sendable, Equatable {
    public struct Rank: Sendable, Equatable {
        /// Where the rank's worker listens.
        public var address: String
        public var alive: Bool
        /// Rows (token × expert pairs) it computed, and the dispatches that carried them.
        public var rows: Int
        public var dispatches: Int
        /// Time its worker spent computing, and time the front waited on it (send to result).
        public var computeSeconds: Double
        public var waitSeconds: Double
        public var bytesSent: Int
        public var bytesReceived: Int

        public init(address: String, alive: Bool = true, rows: Int = 0, dispatches: Int = 0, computeSeconds: Double = 0,
                    waitSeconds: Double = 0, bytesSent: Int = 0, bytesReceived: Int = 0) {
            self.address = address
            self.alive = alive
            self.rows = rows
            self.dispatches = dispatches
            self.computeSeconds = computeSeconds
            self.waitSeconds = waitSeconds
            self.bytesSent = bytesSent
            self.bytesReceived = bytesReceived
        }
    }

    public var ranks: [Rank]
    /// Passes that failed (a rank died, hung past the deadline, or refused a dispatch).
    public var failedPasses: Int
    /// Placements committed (the first one included).
    public var placements: Int

    public init(ranks: [Rank], failedPasses: Int = 0, placements: Int = 0) {
        self.ranks = ranks
        self.failedPasses = failedPasses
        self.placements = placements
    }

    /// Whether every rank's worker is reachable.
    public var isHealthy: Bool { ranks.allSatisfy(\.alive) }
}
