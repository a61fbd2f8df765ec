import Foundation
import Tokenization

/// The front end's one loop over a step's results (vLLM's `OutputProcessor`): detokenizes
/// incrementally, finds stop strings (holding back text that could still become one), and
/// builds ``RequestOutput`` deltas. Requests finished by a stop string are returned so the
/// engine can abort them in the core.
final class OutputProcessor {
    private struct State {
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
    }

    private let tokenizer: Tokenizer
    private var states: [String: State] = [:]
    /// Unfinished children of each parent request.
    private var openChildren: [String: Int] = [:]

    init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    var numRequests: Int { states.count }

    func addRequest(_ r: EngineCoreRequest) {
        states[r.requestId] = State(
            parentId: r.parentId, index: r.index, params: r.samplingParams, promptTokenIds: r.promptTokenIds,
            arrivalTime: r.arrivalTime,
            detokenizer: IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: r.samplingParams.skipSpecialTokens),
            maxStopLength: r.samplingParams.stop.map(\.utf8.count).max() ?? 0)
        openChildren[r.parentId, default: 0] += 1
    }

    /// Turns core outputs into request outputs; the second list holds requests a stop string ended.
    func process(_ coreOutputs: [EngineCoreOutput]) -> ([RequestOutput], [(String, StopReason)]) {
        var outputs: [RequestOutput] = []
        var toAbort: [(String, StopReason)] = []
        for core in coreOutputs {
            guard var state = states[core.requestId] else { continue }
            var finishReason = core.finishReason
            var stopReason = core.stopReason
            var text: [UInt8] = []
            var tokenIds: [Int] = []
            for id in core.newTokenIds {
                tokenIds.append(id)
                state.numGenerated += 1
                state.held += Array(state.detokenizer.append(id).utf8)
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
                    state.held += Array(state.detokenizer.finish().utf8)
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
            var piece = CompletionOutput(index: state.index, text: String(decoding: text, as: UTF8.self), tokenIds: tokenIds,
                                         logprobs: core.logprobs, finishReason: finishReason, stopReason: stopReason)
            if tokenIds.isEmpty && core.promptLogprobs != nil && finishReason == nil { piece.logprobs = nil }
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
            } else {
                states[core.requestId] = state
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
            let needle = Array(stop.utf8)
            guard needle.count <= text.count else { continue }
            for i in 0...(text.count - needle.count) where text[i] == needle[0] {
                if text[i..<(i + needle.count)].elementsEqual(needle) {
                    if best == nil || i < best!.0 { best = (i, stop) }
                    break
                }
            }
        }
        return best
    }
}
