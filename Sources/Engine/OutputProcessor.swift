import Foundation
import Tokenization

/// The front end's one loop over a step's results (vLLM's `OutputProcessor`): detokenizes
/// incrementally, finds stop strings (holding back text that could still become one), and
/// builds ``RequestOutput`` deltas. Requests finished by a stop string are returned so the
/// engine can abort them in the core.
///
/// A decode step allocates only what it hands out: per request, the piece's token ids and the
/// one-piece list (and its text when longer than a small string's 15 bytes). The per-request
/// state is a class, mutated in place, and the text is built in a reused buffer.
final class OutputProcessor {
    private final class State {
        let parentId: String
        let index: Int
        let params: SamplingParams
        let promptTokenIds: [Int]
        let arrivalTime: Double
        var detokenizer: IncrementalDetokenizer
        /// UTF-8 text decoded but not yet emitted (it may be the start of a stop string).
        var held: [UInt8] = []
        let maxStopLength: Int
        var numGenerated = 0

        init(_ r: EngineCoreRequest, tokenizer: Tokenizer) {
            parentId = r.parentId
            index = r.index
            params = r.samplingParams
            promptTokenIds = r.promptTokenIds
            arrivalTime = r.arrivalTime
            detokenizer = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: r.samplingParams.skipSpecialTokens)
            maxStopLength = r.samplingParams.stop.map(\.utf8.count).max() ?? 0
        }
    }

    private let tokenizer: Tokenizer
    private var states: [String: State] = [:]
    /// Unfinished children of each parent request.
    private var openChildren: [String: Int] = [:]
    /// The piece being built (reused).
    private var text: [UInt8] = []
    /// The step's outputs (reused while the caller lets go of the previous step's).
    private var outputs: [RequestOutput] = []

    init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    var numRequests: Int { states.count }

    func addRequest(_ r: EngineCoreRequest) {
        states[r.requestId] = State(r, tokenizer: tokenizer)
        openChildren[r.parentId, default: 0] += 1
    }

    /// Turns core outputs into request outputs; the second list holds requests a stop string ended.
    func process(_ coreOutputs: [EngineCoreOutput]) -> ([RequestOutput], [(String, StopReason)]) {
        outputs.removeAll(keepingCapacity: true)
        var toAbort: [(String, StopReason)] = []
        for core in coreOutputs {
            guard let state = states[core.requestId] else { continue }
            text.removeAll(keepingCapacity: true)
            var finishReason = core.finishReason
            var stopReason = core.stopReason
            var taken = 0
            for id in core.newTokenIds {
                taken += 1
                state.numGenerated += 1
                state.detokenizer.append(id, to: &state.held)
                if finishReason == nil, let (at, stop) = firstStop(in: state.held, params: state.params) {
                    let keep = at + (state.params.includeStopStrInOutput ? stop.utf8.count : 0)
                    text += state.held[..<keep]
                    state.held.removeAll()
                    finishReason = .stop
                    stopReason = .string(stop)
                    toAbort.append((core.requestId, .string(stop)))
                    break
                }
            }
            if finishReason != nil {
                if case .string = stopReason {} else {
                    state.detokenizer.finish(to: &state.held)
                    if let (at, stop) = firstStop(in: state.held, params: state.params) {
                        state.held.removeSubrange((at + (state.params.includeStopStrInOutput ? stop.utf8.count : 0))...)
                        finishReason = .stop
                        stopReason = .string(stop)
                    }
                    text += state.held
                    state.held.removeAll()
                }
            } else {
                // Emit all but what could still grow into a stop string, cut at a character boundary.
                var cut = max(0, state.held.count - max(0, state.maxStopLength - 1))
                while cut > 0 && cut < state.held.count && state.held[cut] & 0xC0 == 0x80 { cut -= 1 }
                text += state.held[..<cut]
                state.held.removeSubrange(..<cut)
            }
            var piece = CompletionOutput(index: state.index, text: String(decoding: text, as: UTF8.self),
                                         tokenIds: Array(core.newTokenIds.prefix(taken)),
                                         logprobs: core.logprobs, finishReason: finishReason, stopReason: stopReason)
            if taken == 0 && core.promptLogprobs != nil && finishReason == nil { piece.logprobs = nil }
            var finished = false
            var metrics: RequestMetrics?
            if finishReason != nil {
                states[core.requestId] = nil
                openChildren[state.parentId, default: 1] -= 1
                finished = openChildren[state.parentId] == 0
                if finished { openChildren[state.parentId] = nil }
                metrics = RequestMetrics(arrivalTime: state.arrivalTime, firstScheduledTime: core.firstScheduledTime,
                                         firstTokenTime: core.firstTokenTime, finishedTime: Date().timeIntervalSinceReferenceDate,
                                         numGeneratedTokens: state.numGenerated)
            }
            outputs.append(RequestOutput(requestId: state.parentId, promptTokenIds: state.promptTokenIds, outputs: [piece],
                                         finished: finished, numCachedTokens: core.numCachedTokens,
                                         promptLogprobs: core.promptLogprobs, metrics: metrics))
        }
        return (outputs, toAbort)
    }

    /// The final piece of requests aborted from outside.
    func abort(_ requestId: String) -> RequestOutput? {
        guard let state = states.removeValue(forKey: requestId) else { return nil }
        openChildren[state.parentId, default: 1] -= 1
        let finished = openChildren[state.parentId] == 0
        if finished { openChildren[state.parentId] = nil }
        return RequestOutput(requestId: state.parentId, promptTokenIds: state.promptTokenIds,
                             outputs: [CompletionOutput(index: state.index, text: "", tokenIds: [], finishReason: .abort)],
                             finished: finished, numCachedTokens: 0)
    }

    /// The earliest stop string in `text` (byte offset), if any.
    private func firstStop(in text: [UInt8], params: SamplingParams) -> (Int, String)? {
        var best: (Int, String)?
        for stop in params.stop {
            var stop = stop
            let at = stop.withUTF8 { Self.firstIndex(of: $0, in: text) }
            if let at, best == nil || at < best!.0 { best = (at, stop) }
        }
        return best
    }

    private static func firstIndex(of needle: UnsafeBufferPointer<UInt8>, in text: [UInt8]) -> Int? {
        guard let head = needle.first, needle.count <= text.count else { return nil }
        for i in 0...(text.count - needle.count) where text[i] == head {
            if text[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }
}
