import CKernels
import Foundation
import GGUF
import Kernels
import Models

/// Expert parallelism over P simulated ranks, for figures at rank counts this machine cannot host
/// (8, 32, 64): every rank's rows are computed here, one rank after another, on a pool as wide as
/// one worker's, and timed; the layer's modelled time is the slowest rank's compute plus its link
/// (a latency each way and its dispatch and combine bytes at the link rate), as if the ranks ran
/// at once on hosts of their own. The outputs are the real ones (the model's own experts).
public final class SimulatedExperts: ExpertDispatcher, @unchecked Sendable {
    /// The modelled link between the front and each rank.
    public struct Link: Sendable {
        public var bitsPerSecond: Double
        /// One-way latency of a message (wire, stack and wake-up).
        public var latency: Double

        public init(bitsPerSecond: Double, latency: Double) {
            self.bitsPerSecond = bitsPerSecond
            self.latency = latency
        }

        func seconds(bytes: Int) -> Double { latency + Double(bytes) * 8 / bitsPerSecond }
    }

    public let numRanks: Int
    private let experts: [[ExpertMLP]]
    private let config: ModelConfig
    private let link: Link
    private let pool: ThreadPool
    private let execution = ExpertExecution()
    private var counters: ExpertDispatchStats
    private var pending = false
    /// Seconds spent computing every rank's rows here, and the modelled seconds of the same
    /// layers had the ranks run at once (the slowest rank's compute and link, per layer).
    public private(set) var measuredSeconds = 0.0
    public private(set) var modelledSeconds = 0.0

    /// Binds every routed expert of `file` (each rank computes from the same copy).
    public init(file: GGUFFile, ranks: Int, link: Link, workerThreads: Int) throws(ModelError) {
        let config = try ModelArchitectures.config(of: file.metadata)
        guard let e = config.experts else { throw .invalidConfig("simulated expert parallelism needs a mixture-of-experts model") }
        self.config = config
        experts = try (0..<config.numLayers).map { l throws(ModelError) in
            try (0..<e.numExperts).map { x throws(ModelError) in try ExpertMLP.load(file: file, config: config, layer: l, expert: x) }
        }
        numRanks = ranks
        self.link = link
        pool = ThreadPool(threadCount: workerThreads)
        counters = ExpertDispatchStats(ranks: (0..<ranks).map { .init(address: "simulated:\($0)") })
    }

    /// Computes the batch's rows rank by rank, now (the modelled time says what overlapping would give).
    public func start(_ batch: ExpertBatch) -> ExpertTicket {
        let perRank = batch.numSlots / numRanks, f = config.experts!.expertFeedForward
        var slowest = 0.0
        for r in 0..<numRanks {
            let slots = (r * perRank)..<((r + 1) * perRank)
            let rows = slots.reduce(0) { $0 + Int(batch.slotRows[$1]) }
            guard rows > 0 else { continue }
            let first = Int(batch.slotStart[slots.lowerBound])
            let input: ExpertRows = batch.quantized
                ? .quantized((batch.input + first * batch.rowBytes).assumingMemoryBound(to: pg_block_q8.self))
                : .floats((batch.input + first * batch.rowBytes).assumingMemoryBound(to: Float.self))
            let started = DispatchTime.now().uptimeNanoseconds
            execution.run(perRank, { i in
                let s = slots.lowerBound + i, count = Int(batch.slotRows[s])
                guard count > 0 else { return nil }
                return (experts[batch.layer][Int(batch.slotExperts[batch.slotExperts.startIndex + s])], Int(batch.slotStart[s]) - first, count)
            }, input: input, rows: rows, hidden: batch.hidden, width: f, activation: config.activation, pool: pool,
               into: batch.output + first * batch.hidden)
            let compute = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let sent = rows * batch.rowBytes, received = rows * batch.hidden * 4
            let wait = compute + link.seconds(bytes: sent) + link.seconds(bytes: received)
            slowest = max(slowest, wait)
            measuredSeconds += compute
            counters.ranks[r].rows += rows
            counters.ranks[r].dispatches += 1
            counters.ranks[r].computeSeconds += compute
            counters.ranks[r].waitSeconds += wait
            counters.ranks[r].bytesSent += sent
            counters.ranks[r].bytesReceived += received
        }
        modelledSeconds += slowest
        return ExpertTicket(id: 0)
    }

    public func finish(_ ticket: ExpertTicket) -> Bool { true }

    public func takeFailure() -> String? { nil }

    public func prepare(physicalToLogical map: [Int]) { pending = true }

    public var preparation: ExpertPreparation { pending ? .ready : .none }

    public func commit() {
        pending = false
        counters.placements += 1
    }

    public var stats: ExpertDispatchStats { counters }
}
