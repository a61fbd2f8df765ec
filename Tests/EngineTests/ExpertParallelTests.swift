import EPLB
import Engine
@testable import ExpertParallel
import Foundation
import GGUF
import Kernels
import Models
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing
import Tokenization
import Transport

/// Expert parallelism on a tiny MoE model: the routed experts on P workers behind Unix-domain
/// sockets (in this process; `pd-check`'s counterpart runs them as processes), the front holding
/// none of them. Greedy outputs equal the one-process model's bit for bit for every P and across
/// live rebalances, and a worker that hangs, dies or refuses fails only its step's requests.
@Suite(.serialized) struct ExpertParallelTests {
    static let quantized = try! GGUFFile(bytes: TinyEngine.moe("qwen2moe", .q4_1, seed: 41).write())
    static let floats = try! GGUFFile(bytes: TinyEngine.moe("qwen3moe", .f32, seed: 43).write())
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// P workers serving `file`, each on its own socket and thread pool.
    final class Workers {
        let workers: [ExpertWorker]
        let servers: [FrameServer]
        let addresses: [TransportAddress]
        let directory: URL

        init(_ p: Int, file: GGUFFile) throws {
            let name = "ep-test-\(UUID().uuidString.prefix(8))"
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let workers = try (0..<p).map { _ in try ExpertWorker(file: file, pool: ThreadPool(threadCount: 1)) }
            let addresses: [TransportAddress] = (0..<p).map { .unix(path: "/tmp/\(name)-\($0).sock") }
            servers = try zip(workers, addresses).map { try $0.serve(at: $1, group: ExpertParallelTests.group) }
            self.workers = workers
            self.addresses = addresses
        }

        deinit {
            for server in servers { server.close() }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func prompts() -> [[Int]] {
        var rng = SeededRandom(seed: 42)
        return (0..<12).map { _ in (0..<Int.random(in: 3...30, using: &rng)).map { _ in Int.random(in: 0..<62, using: &rng) } }
    }

    /// An engine over `file`; with `addresses`, its routed experts run there.
    static func engine(_ file: GGUFFile, at addresses: [TransportAddress]? = nil, eplb: EPLBConfig? = nil,
                       deadline: Double = 10, overlapped: Bool = false) throws -> (LLMEngine, RemoteExperts?) {
        let model = try ModelArchitectures.load(file: file, pool: TinyEngine.pool, routedExperts: addresses == nil)
        var remote: RemoteExperts?
        if let addresses {
            remote = try RemoteExperts(connecting: addresses, file: file, group: group, deadline: deadline, connectTimeout: 5)
            model.expertRouter!.dispatcher = remote
            model.expertRouter!.overlapsMicroBatches = overlapped
        }
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 24, maxNumSeqs: 8), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 200, blockSize: 4, model: model), eplb: eplb)
        return (try LLMEngine(model: model, tokenizer: try Tokenizer(metadata: file.metadata), config: config), remote)
    }

    static func run(_ engine: LLMEngine, prompts: [[Int]] = prompts(), maxTokens: Int = 12) throws -> [[Int]] {
        let ids = try prompts.map { try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        return ids.map { results[$0]![0].tokenIds }
    }

    /// P ranks, with and without the two-batch overlap, the placement changing every 3 steps.
    @Test(arguments: [(1, false), (2, false), (4, false), (2, true), (4, true)])
    func greedyOutputsEqualOneProcessAcrossLiveRebalances(ranks p: Int, overlapped: Bool) throws {
        let reference = try Self.run(Self.engine(Self.quantized).0)
        let workers = try Workers(p, file: Self.quantized)
        let (engine, remote) = try Self.engine(Self.quantized, at: workers.addresses,
                                               eplb: EPLBConfig(windowSize: 50, stepInterval: 3, numRedundantExperts: 4),
                                               overlapped: overlapped)
        // A placement is installed once every worker has loaded it, which on a loaded machine can
        // take longer than one run: the batch runs again (same outputs) until three were installed.
        var rounds = 0
        repeat {
            #expect(try Self.run(engine) == reference)
            rounds += 1
        } while (engine.stats.expertLoad?.rebalances ?? 0) < 3 && rounds < 20
        let stats = try #require(remote).stats
        let load = try #require(engine.stats.expertLoad)
        #expect(load.numRanks == p && load.rebalances >= 3)
        #expect(stats.placements == load.rebalances + 1 && stats.failedPasses == 0 && stats.isHealthy)
        // Every routed row went to exactly one rank: k rows per token per MoE layer.
        let s = engine.stats
        // Overlapped, most steps send each rank two batches a layer (one per micro-batch).
        let dispatches = stats.ranks.reduce(0) { $0 + $1.dispatches }
        #expect(overlapped == (dispatches > s.steps * 2 * p), "\(dispatches) dispatches in \(s.steps) steps")
        #expect(stats.ranks.reduce(0) { $0 + $1.rows } == 2 * 2 * (s.prefilledTokens + s.generationTokens - 12 * rounds))
        // Each worker holds only its slots' experts: those of the placement in force, and of one
        // being loaded beside it (12 / P slots a layer, 2 layers).
        for worker in workers.workers { #expect(worker.numHeldExperts <= 2 * (12 / p * 2)) }
    }

    /// Map-then-switch: a prepared placement's experts are loaded beside the ones in use, and the
    /// old ones are dropped only at the commit.
    @Test func placementsLoadBesideThenSwitch() throws {
        let workers = try Workers(2, file: Self.quantized)
        let remote = try RemoteExperts(connecting: workers.addresses, file: Self.quantized, group: Self.group, connectTimeout: 5)
        func held(_ r: Int) -> Int { workers.workers[r].numHeldExperts }
        // 8 slots a layer, 2 layers: rank 0 serves slots 0..<4, rank 1 slots 4..<8.
        let a = [0, 1, 2, 3, 4, 5, 6, 7] + [0, 1, 2, 3, 4, 5, 6, 7]
        try remote.place(a)
        #expect(held(0) == 8 && held(1) == 8)
        let b = [4, 5, 0, 1, 2, 3, 6, 7] + [0, 1, 2, 3, 4, 5, 6, 7]
        remote.prepare(physicalToLogical: b)
        while remote.preparation == .pending { usleep(1000) }
        #expect(remote.preparation == .ready)
        #expect(held(0) == 10 && held(1) == 10)  // experts 4, 5 of layer 0 beside 0…3 on rank 0; 0, 1 on rank 1
        remote.commit()
        let until = Date(timeIntervalSinceNow: 5)
        while (held(0) != 8 || held(1) != 8) && Date() < until { usleep(1000) }
        #expect(held(0) == 8 && held(1) == 8)
        #expect(remote.preparation == .none && remote.stats.placements == 2)
        // A placement naming an expert the model lacks fails to prepare and leaves the current one.
        remote.prepare(physicalToLogical: [99] + b.dropFirst())
        var state = remote.preparation
        while state == .pending {
            usleep(1000)
            state = remote.preparation
        }
        guard case .failed(let why) = state else { Issue.record("a bad placement was not refused: \(state)"); return }
        #expect(why.contains("expert worker 0"))
        #expect(held(0) == 8 && remote.preparation == .none)
    }

    /// Experts without interleaved kernels travel as float rows.
    @Test func floatExpertsTravelAsFloats() throws {
        let reference = try Self.run(Self.engine(Self.floats).0)
        let workers = try Workers(2, file: Self.floats)
        let (engine, remote) = try Self.engine(Self.floats, at: workers.addresses, overlapped: true)
        #expect(try Self.run(engine) == reference)
        let stats = try #require(remote).stats
        #expect(stats.ranks.allSatisfy { $0.rows > 0 && $0.bytesSent % (32 * 4) == 0 })
    }

    /// A worker of another model file is refused at the hello; an address with no worker too.
    @Test func aWorkerOfAnotherModelIsRefused() throws {
        let workers = try Workers(1, file: Self.floats)
        #expect(throws: ExpertParallelError.self) { _ = try Self.engine(Self.quantized, at: workers.addresses) }
        #expect(throws: ExpertParallelError.self) {
            _ = try RemoteExperts(connecting: [.unix(path: "/tmp/no-such-ep-worker.sock")], file: Self.quantized, group: Self.group,
                                  connectTimeout: 0.2)
        }
    }

    /// What a fake rank does with its dispatches.
    enum Fault { case hang, close, refuse }

    /// A rank that greets and takes placements like a worker, then misbehaves on dispatches.
    final class FaultyRank {
        let server: FrameServer
        let address: TransportAddress

        init(_ fault: Fault, file: GGUFFile) throws {
            address = .unix(path: "/tmp/ep-faulty-\(UUID().uuidString.prefix(8)).sock")
            let config = try ModelArchitectures.config(of: file.metadata)
            let hello = ExpertWorkerHello(fingerprint: ExpertWorkerHello.fingerprint(of: file), numLayers: config.numLayers,
                                          numExperts: config.experts!.numExperts, hidden: config.hiddenSize)
            server = try FrameServer(address: address, group: ExpertParallelTests.group, handlers: FrameHandlers(onFrame: { link, frame in
                switch ExpertWireMessage(frame) {
                case .hello: _ = link.send(ExpertWireMessage.hello(hello).frame(allocator: ByteBufferAllocator()))
                case .prepare(let epoch, _): _ = link.send(ExpertWireMessage.prepared(epoch: epoch, error: nil).frame(allocator: ByteBufferAllocator()))
                case .dispatch(let m):
                    switch fault {
                    case .hang: break
                    case .close: link.close()
                    case .refuse:
                        _ = link.send(ExpertWireMessage.failure(sequence: m.sequence, message: "out of memory").frame(allocator: ByteBufferAllocator()))
                    }
                default: break
                }
            }))
        }

        deinit { server.close() }
    }

    @Test(arguments: [Fault.hang, .close, .refuse])
    func aFailingRankFailsItsStepAndLeaksNothing(_ fault: Fault) throws {
        let good = try Workers(1, file: Self.quantized)
        let bad = try FaultyRank(fault, file: Self.quantized)
        let (engine, remote) = try Self.engine(Self.quantized, at: good.addresses + [bad.address], deadline: 0.3, overlapped: fault == .close)
        let ids = try Self.prompts().prefix(3).map {
            try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: 4, ignoreEOS: true))
        }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        for id in ids {
            let result = try #require(results[id]?.first)
            #expect(result.finishReason == .abort)
            let failure = try #require(result.failure)
            #expect(failure.message.contains("expert worker 1"))
        }
        let stats = try #require(remote).stats
        #expect(stats.failedPasses >= 1)
        #expect(stats.ranks[1].alive == (fault != .close))
        #expect(engine.stats.expertParallel == stats)
    }

    /// `replace_dead_ranks`: once a worker is gone, its experts are placed on the live one; the
    /// steps that routed to it before that failed, and from then on outputs are the reference's.
    @Test func aDeadRanksExpertsMoveToTheLiveOnes() throws {
        let reference = try Self.run(Self.engine(Self.quantized).0)
        let workers = try Workers(2, file: Self.quantized)
        let (engine, remote) = try Self.engine(Self.quantized, at: workers.addresses,
                                               eplb: EPLBConfig(windowSize: 50, stepInterval: 10_000, numRedundantExperts: 8,
                                                                replaceDeadRanks: true))
        #expect(try Self.run(engine) == reference)
        workers.workers[1].disconnect()
        let until = Date(timeIntervalSinceNow: 5)
        while try #require(remote).stats.ranks[1].alive && Date() < until { usleep(1000) }
        let ids = try Self.prompts().map { try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        #expect(ids.contains { results[$0]![0].failure != nil })
        // The live worker loads the new placement beside its experts; the engine installs it
        // before its next step once it is there, idle or not.
        let loaded = Date(timeIntervalSinceNow: 10)
        while !(engine.stats.expertLoad?.deadRanksReplaced ?? false) && Date() < loaded {
            _ = engine.step()
            usleep(1000)
        }
        #expect(try #require(engine.stats.expertLoad).deadRanksReplaced)
        let rowsBefore = try #require(remote).stats.ranks[0].rows
        #expect(try Self.run(engine) == reference)
        let after = try #require(remote).stats
        #expect(after.ranks[0].rows > rowsBefore && !after.ranks[1].alive)
        #expect(workers.workers[0].numHeldExperts == 2 * 8)  // every expert of both layers on the live rank
    }

    /// After a failed step nothing it wrote is reused: the same prompts, once the rank is back,
    /// give the one-process outputs (no block cached for the failed step is hit).
    @Test func aFailedStepLeavesNoPrefixBehind() throws {
        let reference = try Self.run(Self.engine(Self.quantized).0)
        let workers = try Workers(2, file: Self.quantized)
        let model = try ModelArchitectures.load(file: Self.quantized, pool: TinyEngine.pool, routedExperts: false)
        let remote = try RemoteExperts(connecting: workers.addresses, file: Self.quantized, group: Self.group, connectTimeout: 5)
        let flaky = FlakyDispatcher(remote, failing: [3, 7])
        model.expertRouter!.dispatcher = flaky
        let config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 24, maxNumSeqs: 8), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 200, blockSize: 4, model: model))
        let engine = try LLMEngine(model: model, tokenizer: try Tokenizer(metadata: Self.quantized.metadata), config: config)
        let first = try Self.prompts().map { try engine.addRequest(.tokens($0), params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true)) }
        let results = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))
        #expect(first.contains { results[$0]![0].failure != nil })
        #expect(try Self.run(engine) == reference)
    }
}

/// Fails the dispatches numbered in `failing` (counting from 1), passing the others through.
final class FlakyDispatcher: ExpertDispatcher, @unchecked Sendable {
    private let inner: any ExpertDispatcher
    private let failing: Set<Int>
    private var count = 0
    private var failure: String?

    init(_ inner: any ExpertDispatcher, failing: Set<Int>) {
        self.inner = inner
        self.failing = failing
    }

    func start(_ batch: ExpertBatch) -> ExpertTicket {
        count += 1
        guard !failing.contains(count) else {
            failure = "injected failure \(count)"
            return ExpertTicket(id: -1)
        }
        return inner.start(batch)
    }

    func finish(_ ticket: ExpertTicket) -> Bool { ticket.id >= 0 && inner.finish(ticket) }

    func takeFailure() -> String? {
        defer { failure = nil }
        return failure ?? inner.takeFailure()
    }

    func prepare(physicalToLogical map: [Int]) { inner.prepare(physicalToLogical: map) }
    var preparation: ExpertPreparation { inner.preparation }
    func commit() { inner.commit() }
    var stats: ExpertDispatchStats { inner.stats }
}
