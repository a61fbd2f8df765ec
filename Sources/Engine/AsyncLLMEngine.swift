import Foundation
import Synchronization

/// The async façade (vLLM's `AsyncLLM`): the engine core loop runs on its own thread (a forward
/// pass blocks for milliseconds, so never on Swift's cooperative pool); callers get one
/// `AsyncThrowingStream` of ``RequestOutput`` deltas per request. Cancelling the consuming task
/// aborts the request, and its blocks are freed at the next step.
public final class AsyncLLMEngine: Sendable {
    private struct Inbox {
        var adds: [(requests: [EngineCoreRequest], continuation: AsyncThrowingStream<RequestOutput, Error>.Continuation)] = []
        var aborts: [String] = []
        var stopping = false
    }

    public let inputProcessor: InputProcessor
    private let inbox = Mutex(Inbox())
    private let wakeUp = NSCondition()
    private let statsBox = Mutex(EngineStats())
    // Only the core thread touches the engine and the continuations.
    private nonisolated(unsafe) let engine: LLMEngine
    private nonisolated(unsafe) var streams: [String: AsyncThrowingStream<RequestOutput, Error>.Continuation] = [:]
    private let finishedLoop = NSCondition()
    private nonisolated(unsafe) var loopDone = false

    public init(engine: LLMEngine) {
        self.engine = engine
        inputProcessor = engine.inputProcessor
        let t = Thread { [unowned self] in self.runLoop() }
        t.name = "peregrine-engine-core"
        t.stackSize = 8 << 20
        t.start()
    }

    deinit { shutdown() }

    /// Validates and tokenizes the request here (errors throw now), then streams its outputs.
    public func generate(_ prompt: PromptInput, params: SamplingParams, requestId: String? = nil,
                         priority: Int = 0) throws(InputError) -> AsyncThrowingStream<RequestOutput, Error> {
        let requests = try inputProcessor.process(prompt, params: params, requestId: requestId, priority: priority)
        let id = requests[0].parentId
        let (stream, continuation) = AsyncThrowingStream<RequestOutput, Error>.makeStream()
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.abort(id) }
        }
        inbox.withLock { $0.adds.append((requests, continuation)) }
        signal()
        return stream
    }

    /// Aborts a request; its stream ends with a final piece whose finish reason is `abort`.
    public func abort(_ requestId: String) {
        inbox.withLock { $0.aborts.append(requestId) }
        signal()
    }

    /// Counters as of the last step.
    public var stats: EngineStats { statsBox.withLock { $0 } }

    /// Stops the core loop, ending every open stream with an error; waits for the thread.
    public func shutdown() {
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

    private func runLoop() {
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
            for id in work.aborts {
                for output in engine.abortRequest(id) { deliver(output) }
            }
            if !engine.hasUnfinishedRequests && !(work.adds.isEmpty && work.aborts.isEmpty) {
                // The last requests were aborted: publish the now idle counts before waiting.
                let s = engine.stats
                statsBox.withLock { $0 = s }
            }
            if engine.hasUnfinishedRequests {
                for output in engine.step() { deliver(output) }
                let s = engine.stats
                statsBox.withLock { $0 = s }
            } else {
                wakeUp.lock()
                let idle = inbox.withLock { $0.adds.isEmpty && $0.aborts.isEmpty && !$0.stopping }
                if idle { wakeUp.wait() }
                wakeUp.unlock()
            }
        }
        for (_, continuation) in streams { continuation.finish(throwing: CancellationError()) }
        streams.removeAll()
        finishedLoop.lock()
        loopDone = true
        finishedLoop.broadcast()
        finishedLoop.unlock()
    }

    private func deliver(_ output: RequestOutput) {
        guard let continuation = streams[output.requestId] else { return }
        continuation.yield(output)
        if output.finished {
            continuation.finish()
            streams[output.requestId] = nil
        }
    }
}
