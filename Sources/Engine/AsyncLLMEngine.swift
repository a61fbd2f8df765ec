import Foundation
import Synchronization

/// The async façade (vLLM's `AsyncLLM`): the engine core loop runs on its own thread (a forward
/// pass blocks for milliseconds, so never on Swift's cooperative pool); callers get one
/// `AsyncThrowingStream` of ``RequestOutput`` deltas per request. Cancelling the consuming task
/// aborts the request, and its blocks are freed at the next step.
///
/// Dropping the last reference shuts the loop down as ``shutdown()`` does: the loop thread holds
/// the core, never the façade, so the façade's `deinit` can stop it and wait for it.
public final class AsyncLLMEngine: Sendable {
    public let inputProcessor: InputProcessor
    private let core: EngineCoreLoop

    public init(engine: LLMEngine) {
        inputProcessor = engine.inputProcessor
        core = EngineCoreLoop(engine: engine)
        let core = self.core
        let t = Thread { core.runLoop() }
        t.name = "peregrine-engine-core"
        t.stackSize = 8 << 20
        t.start()
    }

    deinit { core.shutdown() }

    /// Validates and tokenizes the request here (errors throw now), then streams its outputs.
    public func generate(_ prompt: PromptInput, params: SamplingParams, requestId: String? = nil,
                         priority: Int = 0) throws(InputError) -> AsyncThrowingStream<RequestOutput, Error> {
        let requests = try inputProcessor.process(prompt, params: params, requestId: requestId, priority: priority)
        let id = requests[0].parentId
        let (stream, continuation) = AsyncThrowingStream<RequestOutput, Error>.makeStream()
        continuation.onTermination = { [weak core] termination in
            if case .cancelled = termination { core?.abort(id) }
        }
        core.add(requests, continuation)
        return stream
    }

    /// Aborts a request; its stream ends with a final piece whose finish reason is `abort`.
    public func abort(_ requestId: String) { core.abort(requestId) }

    /// Counters as of the last step.
    public var stats: EngineStats { core.stats }

    /// Stops the core loop, ending every open stream with an error; waits for the thread.
    public func shutdown() { core.shutdown() }
}

/// The engine core's loop and what it owns: the engine, the open streams, and the inbox the
/// façade posts requests and aborts to.
final class EngineCoreLoop: Sendable {
    private struct Inbox {
        var adds: [(requests: [EngineCoreRequest], continuation: AsyncThrowingStream<RequestOutput, Error>.Continuation)] = []
        var aborts: [String] = []
        var stopping = false
    }

    private let inbox = Mutex(Inbox())
    private let wakeUp = NSCondition()
    private let statsBox: Mutex<EngineStats>
    // Only the core thread touches the engine and the continuations.
    private nonisolated(unsafe) let engine: LLMEngine
    private nonisolated(unsafe) var streams: [String: AsyncThrowingStream<RequestOutput, Error>.Continuation] = [:]
    private let finishedLoop = NSCondition()
    private nonisolated(unsafe) var loopDone = false

    init(engine: LLMEngine) {
        self.engine = engine
        statsBox = Mutex(engine.stats)
    }

    func add(_ requests: [EngineCoreRequest], _ continuation: AsyncThrowingStream<RequestOutput, Error>.Continuation) {
        inbox.withLock { $0.adds.append((requests, continuation)) }
        signal()
    }

    func abort(_ requestId: String) {
        inbox.withLock { $0.aborts.append(requestId) }
        signal()
    }

    var stats: EngineStats { statsBox.withLock { $0 } }

    func shutdown() {
        let wasRunning = inbox.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        guard wasRunning else { return }
        signal()
        finishedLoop.lock()
        while !loopDone { finishedLoop.wait() }
        finishedLoop.unlock()
    }

    private func signal() {
        wakeUp.lock()
        wakeUp.signal()
        wakeUp.unlock()
    }

    func runLoop() {
        while true {
            let work: Inbox = inbox.withLock { box in
                defer { box.adds.removeAll(); box.aborts.removeAll() }
                return box
            }
            if work.stopping { break }
            for (requests, continuation) in work.adds {
                do {
                    try engine.add(requests)
                    streams[requests[0].parentId] = continuation
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            if !(work.adds.isEmpty && work.aborts.isEmpty) {
                publish(work.aborts.flatMap { engine.abortRequest($0) })
            }
            if engine.hasUnfinishedRequests {
                publish(engine.step())
            } else {
                wakeUp.lock()
                let idle = inbox.withLock { $0.adds.isEmpty && $0.aborts.isEmpty && !$0.stopping }
                if idle { wakeUp.wait() }
                wakeUp.unlock()
            }
        }
        for (_, continuation) in streams { continuation.finish(throwing: CancellationError()) }
        streams.removeAll()
        engine.close()
        finishedLoop.lock()
        loopDone = true
        finishedLoop.broadcast()
        finishedLoop.unlock()
    }

    /// Publishes the engine's counts, then hands `outputs` to their streams: a client that has
    /// its answer and then reads the metrics sees the step that produced it.
    private func publish(_ outputs: [RequestOutput]) {
        let s = engine.stats
        statsBox.withLock { $0 = s }
        for output in outputs { deliver(output) }
    }

    private func deliver(_ output: RequestOutput) {
        guard let continuation = streams[output.requestId] else { return }
        if output.finished, let failure = output.failure {
            continuation.finish(throwing: failure)
            streams[output.requestId] = nil
            return
        }
        continuation.yield(output)
        if output.finished {
            continuation.finish()
            streams[output.requestId] = nil
        }
    }
}
