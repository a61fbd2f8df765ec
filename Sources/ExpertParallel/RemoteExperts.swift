import Foundation
import GGUF
import Models
import NIOCore
import Transport

/// Why the front of an expert-parallel model could not start.
public enum ExpertParallelError: Error, Equatable, CustomStringConvertible {
    case unreachable(String)
    case mismatch(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unreachable(let m), .mismatch(let m), .invalid(let m): m
        }
    }
}

/// The front's side of expert parallelism (DeepEP's dispatch and combine over ``Transport``):
/// one link per rank, rank r serving the router's slots `r·R/P ..< (r+1)·R/P`. Each MoE layer of
/// each pass sends every rank only the rows routed to its slots, in one message; the front runs
/// its own work (the shared expert) meanwhile, then waits for every rank's rows, which land
/// straight in the layer's output rows; the layer sums them per token in a fixed order, so the
/// result does not depend on P or on the placement.
///
/// Two batches may be in flight at once (the two-batch overlap's micro-batches); each waits for
/// its own ranks. A rank that closes its link, answers with a failure or misses `deadline` fails
/// the pass (the engine fails that step's requests); later passes try again, and a dead rank
/// fails each pass that routes a row to it (the router avoids it wherever a live replica exists).
public final class RemoteExperts: ExpertDispatcher, @unchecked Sendable {
    private let addresses: [TransportAddress]
    private var links: [FrameConnection] = []
    private let deadline: Double
    private let loadTimeout: Double
    private let allocator = ByteBufferAllocator()
    private let hello: ExpertWorkerHello
    private let condition = NSCondition()
    /// One rank's runs of the dispatch being built (the forward pass's thread only).
    private var runs: [ExpertRun] = []

    // Guarded by `condition`.
    private var alive: [Bool]
    private var greeted: [ExpertWorkerHello?]
    /// Why a worker refused the link at its hello.
    private var refusal: String?
    /// The batches in flight (two at most: two micro-batches), by ticket.
    private var passes: [Pass]
    private var sequence: UInt32 = 0
    /// Placement: the committed epoch, the one being prepared and its ranks' answers.
    private var epoch: UInt32 = 0
    private var pendingEpoch: UInt32?
    private var pendingSince: Double = 0
    private var prepared: [Bool]
    private var prepareError: String?
    private var failure: String?
    private var counters: ExpertDispatchStats

    /// One batch in flight: its sequence, the ranks still owing rows and where their rows go.
    private struct Pass {
        var sequence: UInt32 = 0
        var active = false
        var owing: [Bool]
        var outstanding = 0
        var firstRow: [Int]
        var rankRows: [Int]
        var sentAt: [UInt64]
        var startedAt = Date()
        var output: UnsafeMutablePointer<Float>?
        var hidden = 0
        var error: String?

        init(ranks p: Int) {
            owing = Array(repeating: false, count: p)
            firstRow = Array(repeating: 0, count: p)
            rankRows = Array(repeating: 0, count: p)
            sentAt = Array(repeating: 0, count: p)
        }
    }

    /// Connects to one expert worker per address (retrying until `connectTimeout`, as workers
    /// started with the front may still be loading) and checks that each serves `file`.
    /// - Parameters:
    ///   - deadline: seconds a rank may take over one layer's rows before the pass fails.
    ///   - loadTimeout: seconds a rank may take to load a placement's experts.
    public init(connecting addresses: [TransportAddress], file: GGUFFile, group: any EventLoopGroup, deadline: Double = 10,
                connectTimeout: Double = 60, loadTimeout: Double = 300) throws(ExpertParallelError) {
        let config: ModelConfig
        do { config = try ModelArchitectures.config(of: file.metadata) } catch { throw .invalid("\(error)") }
        guard let experts = config.experts else { throw .invalid("expert parallelism needs a mixture-of-experts model") }
        guard !addresses.isEmpty else { throw .invalid("expert parallelism needs at least one worker") }
        self.addresses = addresses
        self.deadline = deadline
        self.loadTimeout = loadTimeout
        hello = ExpertWorkerHello(fingerprint: ExpertWorkerHello.fingerprint(of: file), numLayers: config.numLayers,
                                  numExperts: experts.numExperts, hidden: config.hiddenSize)
        let p = addresses.count
        alive = Array(repeating: true, count: p)
        greeted = Array(repeating: nil, count: p)
        passes = [Pass(ranks: p), Pass(ranks: p)]
        prepared = Array(repeating: false, count: p)
        counters = ExpertDispatchStats(ranks: addresses.map { .init(address: $0.description) })
        for (r, address) in addresses.enumerated() {
            links.append(try Self.connect(address, group: group, timeout: connectTimeout, handlers: FrameHandlers(
                onFrame: { [weak self] _, frame in self?.received(frame, rank: r) },
                onClose: { [weak self] _, _ in self?.closed(rank: r) })))
        }
        for link in links { send(.hello(hello), on: link) }
        condition.lock()
        defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: connectTimeout)
        while let r = greeted.indices.first(where: { greeted[$0] == nil && alive[$0] }) {
            guard condition.wait(until: until) else { throw .unreachable("expert worker \(r) at \(addresses[r]) did not answer its hello") }
        }
        if let r = alive.firstIndex(of: false) {
            throw .mismatch("expert worker \(r) at \(addresses[r]) refused the link: \(refusal ?? "it serves a different model file")")
        }
    }

    deinit { close() }

    /// Closes every link (started workers exit when theirs ends).
    public func close() {
        for link in links { link.close() }
    }

    private static func connect(_ address: TransportAddress, group: any EventLoopGroup, timeout: Double,
                                handlers: FrameHandlers) throws(ExpertParallelError) -> FrameConnection {
        let until = Date(timeIntervalSinceNow: timeout)
        while true {
            do { return try FrameClient.connect(address, group: group, handlers: handlers, timeout: .seconds(2)) } catch {
                guard Date() < until else { throw .unreachable("cannot reach the expert worker at \(address): \(error)") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    // MARK: dispatch and combine

    public func start(_ batch: ExpertBatch) -> ExpertTicket {
        condition.lock()
        guard failure == nil else {
            condition.unlock()
            return ExpertTicket(id: -1)
        }
        guard let slot = passes.firstIndex(where: { !$0.active }) else { preconditionFailure("more than two expert batches in flight") }
        sequence &+= 1
        let seq = sequence
        passes[slot].sequence = seq
        passes[slot].active = true
        passes[slot].outstanding = 0
        passes[slot].error = nil
        passes[slot].output = batch.output
        passes[slot].hidden = batch.hidden
        passes[slot].startedAt = Date()
        condition.unlock()

        let p = links.count, perRank = batch.numSlots / p
        for r in 0..<p {
            runs.removeAll(keepingCapacity: true)
            var count = 0
            for s in (r * perRank)..<((r + 1) * perRank) where batch.slotRows[s] > 0 {
                runs.append(ExpertRun(expert: batch.slotExperts[batch.slotExperts.startIndex + s], rows: batch.slotRows[s]))
                count += Int(batch.slotRows[s])
            }
            guard count > 0 else { continue }
            let first = Int(batch.slotStart[r * perRank])
            let frame = ExpertWireMessage.dispatchFrame(
                sequence: seq, layer: batch.layer, quantized: batch.quantized, rowBytes: batch.rowBytes, runs: runs[...],
                rows: UnsafeRawBufferPointer(start: batch.input + first * batch.rowBytes, count: count * batch.rowBytes), allocator: allocator)
            condition.lock()
            guard alive[r] else {
                passes[slot].error = passes[slot].error ?? "expert worker \(r) at \(addresses[r]) is gone"
                condition.unlock()
                break
            }
            passes[slot].owing[r] = true
            passes[slot].firstRow[r] = first
            passes[slot].rankRows[r] = count
            passes[slot].outstanding += 1
            passes[slot].sentAt[r] = DispatchTime.now().uptimeNanoseconds
            counters.ranks[r].bytesSent += count * batch.rowBytes
            condition.unlock()
            links[r].send(frame).whenFailure { [link = links[r]] _ in link.close() }
        }
        return ExpertTicket(id: slot)
    }

    /// Waits for every rank's rows of the ticket's batch (or its first error, or the deadline)
    /// and ends it.
    public func finish(_ ticket: ExpertTicket) -> Bool {
        guard ticket.id >= 0 else { return false }
        let i = ticket.id
        condition.lock()
        defer { condition.unlock() }
        let until = passes[i].startedAt.addingTimeInterval(deadline)
        while passes[i].outstanding > 0 && passes[i].error == nil {
            if !condition.wait(until: until) {
                let late = passes[i].owing.indices.filter { passes[i].owing[$0] }.map { "\($0) at \(addresses[$0])" }.joined(separator: ", ")
                passes[i].error = "expert worker \(late) did not answer within \(deadline) s"
            }
        }
        passes[i].active = false
        for r in passes[i].owing.indices { passes[i].owing[r] = false }
        passes[i].output = nil
        guard let error = passes[i].error else { return true }
        failure = failure ?? error
        return false
    }

    public func takeFailure() -> String? {
        condition.lock()
        defer { condition.unlock() }
        defer { failure = nil }
        if failure != nil { counters.failedPasses += 1 }
        return failure
    }

    // MARK: placement

    /// Ranks that are gone are skipped: a placement is ready once every live rank holds it (the
    /// router keeps rows off the dead ranks' slots wherever a live replica exists).
    public func prepare(physicalToLogical map: [Int]) {
        let p = links.count
        condition.lock()
        let next = max(epoch, pendingEpoch ?? 0) &+ 1
        pendingEpoch = next
        pendingSince = Date().timeIntervalSinceReferenceDate
        prepareError = nil
        for r in prepared.indices { prepared[r] = false }
        condition.unlock()
        let layers = hello.numLayers, slots = map.count / max(1, layers), perRank = slots / p
        for r in 0..<p {
            let experts = (0..<layers).map { l in (0..<perRank).map { Int32(map[l * slots + r * perRank + $0]) } }
            send(.prepare(epoch: next, experts: experts), on: links[r])
        }
    }

    public var preparation: ExpertPreparation {
        condition.lock()
        defer { condition.unlock() }
        guard pendingEpoch != nil else { return .none }
        if prepareError == nil, Date().timeIntervalSinceReferenceDate - pendingSince > loadTimeout {
            prepareError = "the expert workers did not load the placement within \(loadTimeout) s"
        }
        if let error = prepareError {
            pendingEpoch = nil
            return .failed(error)
        }
        return prepared.indices.allSatisfy { prepared[$0] || !alive[$0] } ? .ready : .pending
    }

    public func commit() {
        condition.lock()
        guard let next = pendingEpoch, prepared.indices.allSatisfy({ prepared[$0] || !alive[$0] }) else {
            condition.unlock()
            return
        }
        epoch = next
        pendingEpoch = nil
        counters.placements += 1
        condition.unlock()
        for link in links { send(.commit(epoch: next), on: link) }
    }

    public var stats: ExpertDispatchStats {
        condition.lock()
        defer { condition.unlock() }
        var s = counters
        for r in s.ranks.indices { s.ranks[r].alive = alive[r] }
        return s
    }

    // MARK: the links' frames (event-loop threads)

    private func received(_ frame: Frame, rank r: Int) {
        guard let message = ExpertWireMessage(frame) else {
            fail(rank: r, "expert worker \(r) at \(addresses[r]) sent a malformed frame")
            links[r].close()
            return
        }
        switch message {
        case .hello(let worker):
            condition.lock()
            greeted[r] = worker
            if worker != hello {
                alive[r] = false
                refusal = "it serves a different model file"
            }
            condition.broadcast()
            condition.unlock()
        case .prepared(let epochDone, let error):
            condition.lock()
            if epochDone == pendingEpoch {
                if let error { prepareError = "expert worker \(r) at \(addresses[r]): \(error)" } else { prepared[r] = true }
            }
            condition.unlock()
        case .result(let seq, let nanoseconds, let rows):
            condition.lock()
            defer { condition.unlock() }
            guard let i = passes.firstIndex(where: { $0.active && $0.sequence == seq }), passes[i].owing[r],
                  let output = passes[i].output else { return }
            let hidden = passes[i].hidden
            guard rows.readableBytes == passes[i].rankRows[r] * hidden * 4 else {
                passes[i].error = "expert worker \(r) at \(addresses[r]) sent \(rows.readableBytes) bytes for \(passes[i].rankRows[r]) rows"
                condition.broadcast()
                return
            }
            rows.withUnsafeReadableBytes {
                UnsafeMutableRawPointer(output + passes[i].firstRow[r] * hidden).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            passes[i].owing[r] = false
            passes[i].outstanding -= 1
            counters.ranks[r].rows += passes[i].rankRows[r]
            counters.ranks[r].dispatches += 1
            counters.ranks[r].computeSeconds += Double(nanoseconds) / 1e9
            counters.ranks[r].waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - passes[i].sentAt[r]) / 1e9
            counters.ranks[r].bytesReceived += rows.readableBytes
            if passes[i].outstanding == 0 { condition.broadcast() }
        case .failure(let seq, let text):
            condition.lock()
            defer { condition.unlock() }
            if greeted[r] == nil {
                alive[r] = false
                refusal = text
            }
            for i in passes.indices where passes[i].active && (seq == 0 || passes[i].sequence == seq) {
                passes[i].error = "expert worker \(r) at \(addresses[r]): \(text)"
            }
            condition.broadcast()
        case .prepare, .commit, .dispatch:
            fail(rank: r, "expert worker \(r) at \(addresses[r]) sent a front's frame")
        }
    }

    private func closed(rank r: Int) {
        condition.lock()
        alive[r] = false
        for i in passes.indices where passes[i].active && passes[i].owing[r] {
            passes[i].error = "expert worker \(r) at \(addresses[r]) closed its link"
        }
        condition.broadcast()
        condition.unlock()
    }

    private func fail(rank r: Int, _ message: String) {
        condition.lock()
        for i in passes.indices where passes[i].active { passes[i].error = message }
        condition.broadcast()
        condition.unlock()
    }

    private func send(_ message: ExpertWireMessage, on link: FrameConnection) {
        link.send(message.frame(allocator: allocator)).whenFailure { _ in link.close() }
    }
}
