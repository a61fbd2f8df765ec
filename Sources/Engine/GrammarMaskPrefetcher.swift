import Dispatch
import StructuredOutput

/// Fills the grammar masks of a step's constrained requests on a helper thread while the
/// forward pass runs, so sampling finds them ready (vLLM computes its grammar bitmask beside the
/// model's step the same way). Only rows with no drafts before them are filled ahead: a mask
/// after drafts depends on which drafts the verification accepts.
final class GrammarMaskPrefetcher: @unchecked Sendable {
    private let vocabSize: Int
    private var masks: [TokenBitmask] = []
    private var matchers: [GrammarMatcher] = []
    private var requestIds: [ObjectIdentifier] = []
    private var nanoseconds: [UInt64] = []
    private var count = 0
    private var inFlight = false
    private let done = DispatchSemaphore(value: 0)
    private let queue = DispatchQueue(label: "peregrine.grammar-masks", qos: .userInitiated)
    /// Whether to time each mask (benchmarks).
    var recordsTimes = false

    init(vocabSize: Int) {
        self.vocabSize = vocabSize
    }

    /// Starts filling the masks of the requests in `output` whose next row is sampled with no
    /// drafts before it.
    func start(_ output: SchedulerOutput) {
        precondition(!inFlight, "a prefetch is still running")
        count = 0
        matchers.removeAll(keepingCapacity: true)
        requestIds.removeAll(keepingCapacity: true)
        for item in output.scheduled where item.samplesToken && item.numSpecTokens == 0 {
            guard let matcher = item.request.grammarMatcher, !matcher.isTerminated else { continue }
            matchers.append(matcher)
            requestIds.append(ObjectIdentifier(item.request))
            count += 1
        }
        guard count > 0 else { return }
        while masks.count < count { masks.append(TokenBitmask(vocabSize: vocabSize)) }
        nanoseconds.removeAll(keepingCapacity: true)
        inFlight = true
        queue.async { [self] in
            for k in 0..<count {
                let start = recordsTimes ? DispatchTime.now().uptimeNanoseconds : 0
                matchers[k].fillNextTokenBitmask(&masks[k])
                if recordsTimes { nanoseconds.append(DispatchTime.now().uptimeNanoseconds - start) }
            }
            done.signal()
        }
    }

    /// Waits for the masks started last; returns how long each took when timed.
    func wait() -> ArraySlice<UInt64> {
        guard inFlight else { return [] }
        done.wait()
        inFlight = false
        return nanoseconds[...]
    }

    /// Runs `body` on the mask filled ahead for `request`, if there is one.
    func withMask<T>(for request: Request, _ body: (TokenBitmask) -> T) -> T? {
        let id = ObjectIdentifier(request)
        for k in 0..<count where requestIds[k] == id { return body(masks[k]) }
        return nil
    }

    /// Forgets the masks of the last step (they are stale once tokens are accepted).
    func clear() {
        count = 0
        matchers.removeAll(keepingCapacity: true)
    }
}
