import CKernels
import Foundation
import GGUF
import Kernels
import Models
import NIOCore
import Synchronization
import Transport

/// An expert worker (`peregrine expert-worker`): it holds only the routed experts the front
/// places on it, binding and repacking just their slices of the GGUF file, and computes their
/// gated MLPs over the rows each MoE layer sends it, with the same code as the model's own MoE
/// layer (``Models/ExpertExecution``), so a row's output is the same bits wherever it ran.
///
/// New placements are loaded on a background queue beside the experts in use, which keep serving
/// until the front commits the new placement; then the experts no placement names any more are
/// dropped (vLLM's EPLB weight rearrangement, as map-then-switch).
public final class ExpertWorker: @unchecked Sendable {
    public let config: ModelConfig
    private let file: GGUFFile
    private let experts: ExpertConfig
    private let pool: ThreadPool
    private let hello: ExpertWorkerHello
    private let execution = ExpertExecution()
    private let loading = DispatchQueue(label: "peregrine.expert-worker.load")
    /// The experts held, by (layer, expert); each prepared placement's set, by epoch.
    private let state = Mutex(State())
    /// The dispatch input, copied to aligned memory (the frame's bytes need not be).
    private var input = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    private var inputCapacity = 64
    /// Each run's expert and first row, for the dispatch being computed.
    private var mlps: [ExpertMLP] = []
    private var starts: [Int] = []

    private struct State {
        var held: [Key: ExpertMLP] = [:]
        var placements: [UInt32: Set<Key>] = [:]
        var links: Set<FrameConnection> = []
    }

    struct Key: Hashable {
        var layer: Int32
        var expert: Int32
    }

    /// Reads the model's configuration from `file`; binds no expert yet.
    public init(file: GGUFFile, pool: ThreadPool) throws(ModelError) {
        let config = try ModelArchitectures.config(of: file.metadata)
        guard let experts = config.experts else { throw .invalidConfig("an expert worker needs a mixture-of-experts model") }
        self.file = file
        self.config = config
        self.experts = experts
        self.pool = pool
        hello = ExpertWorkerHello(fingerprint: ExpertWorkerHello.fingerprint(of: file), numLayers: config.numLayers,
                                  numExperts: experts.numExperts, hidden: config.hiddenSize)
    }

    deinit { input.deallocate() }

    /// Experts held now (the current placement's, plus a prepared one's until it is committed).
    public var numHeldExperts: Int { state.withLock { $0.held.count } }

    /// Listens on `address`. `onDetached` runs when a front's link ends (a worker started by its
    /// front exits then). Dispatches are computed on the link's event loop, one at a time: give it
    /// a group of one thread (the worker's own pool does the parallel work).
    public func serve(at address: TransportAddress, group: any EventLoopGroup, onDetached: @escaping @Sendable () -> Void = {}) throws -> FrameServer {
        try FrameServer(address: address, group: group, handlers: FrameHandlers(
            onFrame: { [self] link, frame in handle(frame, on: link) },
            onClose: { [self] link, _ in
                state.withLock { _ = $0.links.remove(link) }
                onDetached()
            }))
    }

    /// Closes every front's link (the fronts see this rank go down).
    public func disconnect() {
        for link in state.withLock({ $0.links }) { link.close() }
    }

    private func handle(_ frame: Frame, on link: FrameConnection) {
        guard let message = ExpertWireMessage(frame) else {
            send(.failure(sequence: 0, message: "malformed expert-parallel frame of kind \(frame.kind)"), on: link)
            link.close()
            return
        }
        switch message {
        case .hello(let front):
            guard front == hello else {
                send(.failure(sequence: 0, message: "the front runs a different model file than this worker"), on: link)
                link.close()
                return
            }
            state.withLock { _ = $0.links.insert(link) }
            send(.hello(hello), on: link)
        case .prepare(let epoch, let layers):
            loading.async { [self] in send(.prepared(epoch: epoch, error: prepare(epoch, layers)), on: link) }
        case .commit(let epoch):
            state.withLock { s in
                guard let keep = s.placements[epoch] else { return }
                s.held = s.held.filter { keep.contains($0.key) }
                s.placements = s.placements.filter { $0.key >= epoch }
            }
        case .dispatch(let m):
            let started = DispatchTime.now().uptimeNanoseconds
            // The rows are computed straight into the result frame's payload, after its header.
            var payload = ExpertWireMessage.resultPayload(sequence: m.sequence, capacity: m.runs.reduce(0) { $0 + Int($1.rows) } * config.hiddenSize * 4,
                                                          allocator: ByteBufferAllocator())
            if let error = compute(m, into: &payload) {
                send(.failure(sequence: m.sequence, message: error), on: link)
            } else {
                ExpertWireMessage.setResultNanoseconds(DispatchTime.now().uptimeNanoseconds - started, in: &payload)
                link.send(Frame(kind: ExpertWireMessage.Kind.result.rawValue, payload: payload)).whenFailure { _ in link.close() }
            }
        case .prepared, .result, .failure:
            send(.failure(sequence: 0, message: "an expert worker does not take frames of kind \(frame.kind)"), on: link)
        }
    }

    /// Binds the experts of a placement that are not held yet; nil, or why it could not.
    private func prepare(_ epoch: UInt32, _ layers: [[Int32]]) -> String? {
        guard layers.count == config.numLayers else { return "a placement for \(layers.count) layers; the model has \(config.numLayers)" }
        var wanted = Set<Key>()
        for (l, list) in layers.enumerated() { for e in list { wanted.insert(Key(layer: Int32(l), expert: e)) } }
        let missing = state.withLock { s in wanted.filter { s.held[$0] == nil } }
        var loaded: [Key: ExpertMLP] = [:]
        do throws(ModelError) {
            for key in missing {
                loaded[key] = try ExpertMLP.load(file: file, config: config, layer: Int(key.layer), expert: Int(key.expert))
            }
        } catch {
            return "cannot load the placement's experts: \(error)"
        }
        state.withLock { s in
            s.held.merge(loaded) { old, _ in old }
            s.placements[epoch] = wanted
        }
        return nil
    }

    /// Runs the message's experts over its rows into `output`; nil, or why the dispatch is bad.
    private func compute(_ m: ExpertDispatchMessage, into output: inout ByteBuffer) -> String? {
        let d = config.hiddenSize, f = experts.expertFeedForward
        let rowBytes = m.quantized ? d / 32 * MemoryLayout<pg_block_q8>.stride : d * MemoryLayout<Float>.stride
        let rows = m.runs.reduce(0) { $0 + Int($1.rows) }
        guard m.layer < config.numLayers, m.rowBytes == rowBytes, m.runs.allSatisfy({ $0.rows > 0 }),
              m.input.readableBytes == rows * rowBytes else {
            return "a dispatch for layer \(m.layer) with \(rows) rows of \(m.rowBytes) bytes does not fit this model"
        }
        if rows * rowBytes > inputCapacity {
            input.deallocate()
            inputCapacity = rows * rowBytes
            input = .allocate(byteCount: inputCapacity, alignment: 64)
        }
        m.input.withUnsafeReadableBytes { input.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let x: ExpertRows = m.quantized ? .quantized(UnsafePointer(input.assumingMemoryBound(to: pg_block_q8.self)))
            : .floats(UnsafePointer(input.assumingMemoryBound(to: Float.self)))
        return state.withLock { s -> String? in
            mlps.removeAll(keepingCapacity: true)
            starts.removeAll(keepingCapacity: true)
            for run in m.runs {
                guard let mlp = s.held[Key(layer: Int32(m.layer), expert: run.expert)] else {
                    return "expert \(run.expert) of layer \(m.layer) is not placed on this worker"
                }
                guard mlp.isInterleaved == m.quantized else { return "the front sends \(m.quantized ? "8-bit" : "float") rows; these experts take the other" }
                mlps.append(mlp)
            }
            var next = 0
            for run in m.runs {
                starts.append(next)
                next += Int(run.rows)
            }
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: rows * d * 4) { out in
                execution.run(m.runs.count, { i in (mlps[i], starts[i], Int(m.runs[i].rows)) }, input: x, rows: rows, hidden: d, width: f,
                              activation: config.activation, pool: pool, into: out.baseAddress!.assumingMemoryBound(to: Float.self))
                return rows * d * 4
            }
            return nil
        }
    }

    private func send(_ message: ExpertWireMessage, on link: FrameConnection) {
        link.send(message.frame(allocator: ByteBufferAllocator())).whenFailure { _ in link.close() }
    }
}
