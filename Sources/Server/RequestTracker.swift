import Engine
import Synchronization

/// The requests in flight: admits new ones while there is room (the bounded waiting queue),
/// refuses all while draining for shutdown, and knows which engine requests to abort when the
/// shutdown deadline passes.
final class RequestTracker: Sendable {
    private struct State {
        var sequences = 0
        /// Engine request ids and sequence count of each admitted run.
        var active: [String: (engineIds: [String], sequences: Int)] = [:]
        var draining = false
    }

    private let state = Mutex(State())
    /// Most sequences (each of `n` completions counts) in flight at once.
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Reserves room for a run of `sequences` sequences, or refuses it with a 503.
    func admit(_ runId: String, engineIds: [String], sequences: Int) throws(OpenAIError) {
        try state.withLock { state throws(OpenAIError) in
            guard !state.draining else { throw .overloaded("The server is shutting down.") }
            guard state.sequences + sequences <= limit else {
                throw .overloaded("The server is busy: \(state.sequences) sequences are running or waiting (limit \(limit)). Retry later.")
            }
            state.sequences += sequences
            state.active[runId] = (engineIds, sequences)
        }
    }

    /// Releases a run's room (idempotent).
    func finish(_ runId: String) {
        state.withLock { state in
            if let run = state.active.removeValue(forKey: runId) { state.sequences -= run.sequences }
        }
    }

    var sequencesInFlight: Int { state.withLock { $0.sequences } }
    var isDraining: Bool { state.withLock { $0.draining } }

    /// From now on every new request is refused.
    func beginDraining() { state.withLock { $0.draining = true } }

    /// Engine ids of every run in flight.
    var activeEngineIds: [String] { state.withLock { $0.active.values.flatMap(\.engineIds) } }

    /// Waits until no run is in flight or `timeout` passes; returns whether it got idle.
    func waitUntilIdle(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while sequencesInFlight > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
