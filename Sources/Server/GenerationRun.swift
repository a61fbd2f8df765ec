import Engine
import Foundation
import Synchronization

/// The engine requests behind one API call (one per prompt; each may have `n` completions):
/// admitted by the ``RequestTracker``, started on the ``AsyncLLMEngine``, their outputs read as
/// one sequence tagged with the prompt index. ``cancel()`` aborts whatever has not finished and
/// gives the room back; handlers call it on every exit path.
final class GenerationRun: Sendable {
    let id: String
    let promptTokenIds: [[Int]]
    let params: SamplingParams
    private let engine: AsyncLLMEngine
    private let tracker: RequestTracker
    private let engineIds: [String]
    private let streams: [AsyncThrowingStream<RequestOutput, any Error>]
    private let metrics: ServerMetrics
    private struct Progress {
        var finishedPrompts: Set<Int> = []
        var finishedSequences = 0
        var cancelled = false
    }
    private let progress = Mutex(Progress())

    init(id: String, prompts: [[Int]], params: SamplingParams, engine: AsyncLLMEngine, tracker: RequestTracker,
         metrics: ServerMetrics) throws(OpenAIError) {
        self.id = id
        self.promptTokenIds = prompts
        self.params = params
        self.engine = engine
        self.tracker = tracker
        self.metrics = metrics
        engineIds = prompts.indices.map { prompts.count == 1 ? id : "\(id)-\($0)" }
        try tracker.admit(id, engineIds: engineIds, sequences: prompts.count * params.n)
        var streams: [AsyncThrowingStream<RequestOutput, any Error>] = []
        for (i, prompt) in prompts.enumerated() {
            do {
                streams.append(try engine.generate(.tokens(prompt), params: params, requestId: engineIds[i]))
            } catch {
                for started in engineIds.prefix(i) { engine.abort(started) }
                tracker.finish(id)
                throw Self.openAIError(error, promptIndex: prompts.count > 1 ? i : nil)
            }
        }
        self.streams = streams
    }

    deinit { cancel() }

    /// Calls `body` with each output as it arrives, until every prompt's requests finished.
    /// Throws what `body` throws, `CancellationError` when the task is cancelled, or the engine's error.
    func forEachOutput(_ body: (_ prompt: Int, _ output: RequestOutput) async throws -> Void) async throws {
        if streams.count == 1 {
            for try await output in streams[0] {
                try Task.checkCancellation()
                try await body(0, output)
                record(0, output)
            }
        } else {
            for try await (prompt, output) in merged() {
                try Task.checkCancellation()
                try await body(prompt, output)
                record(prompt, output)
            }
        }
        try Task.checkCancellation()
    }

    /// Aborts the requests that have not finished (counting them in the metrics) and releases
    /// the run's room (idempotent).
    func cancel() {
        let (finished, aborted) = progress.withLock { p -> (Set<Int>, Int) in
            defer { p.cancelled = true }
            return (p.finishedPrompts, p.cancelled ? 0 : promptTokenIds.count * params.n - p.finishedSequences)
        }
        for (i, engineId) in engineIds.enumerated() where !finished.contains(i) { engine.abort(engineId) }
        if aborted > 0 { metrics.recordAborted(aborted) }
        tracker.finish(id)
    }

    private func record(_ prompt: Int, _ output: RequestOutput) {
        let allDone = progress.withLock { p -> Bool in
            p.finishedSequences += output.outputs.reduce(0) { $0 + ($1.finishReason == nil ? 0 : 1) }
            if output.finished { p.finishedPrompts.insert(prompt) }
            return p.finishedPrompts.count == streams.count
        }
        if allDone { tracker.finish(id) }
    }

    private func merged() -> AsyncThrowingStream<(Int, RequestOutput), any Error> {
        let (stream, continuation) = AsyncThrowingStream<(Int, RequestOutput), any Error>.makeStream()
        let streams = self.streams
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, s) in streams.enumerated() {
                        group.addTask {
                            for try await output in s { continuation.yield((i, output)) }
                        }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private static func openAIError(_ error: InputError, promptIndex: Int?) -> OpenAIError {
        let param: String
        switch error {
        case .invalidSamplingParams(let e): param = e.field
        default: param = promptIndex.map { "prompt[\($0)]" } ?? "prompt"
        }
        return .invalidRequest(error.description.prefix(1).uppercased() + error.description.dropFirst() + ".", param: param)
    }
}
