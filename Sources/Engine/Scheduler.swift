import Foundation

/// vLLM V1's scheduler: no prefill or decode phases, just a token budget per step handed to
/// running requests first and then to waiting ones, so that each request's computed tokens catch
/// up with its known tokens. Chunked prefill, prefix caching and preemption by recompute all
/// follow from that one rule.
public final class Scheduler {
    public let config: SchedulerConfig
    public let kvCacheManager: KVCacheManager
    public let maxModelLength: Int
    private var waiting: RequestQueue
    public private(set) var running: [Request] = []
    private var requests: [String: Request] = [:]
    private var output = SchedulerOutput()
    public private(set) var numPreemptions = 0
    /// Prompt tokens of every request that has produced its first token (vLLM's `prompt_tokens`).
    public private(set) var numPromptTokensStarted = 0
    /// Drafts verified and accepted so far (speculative decoding).
    public private(set) var specDecodeStats = SpecDecodeStats()
    /// Called when a request finishes or is aborted, before its blocks are freed.
    var onFinish: ((Request) -> Void)?

    public init(config: SchedulerConfig, kvCacheManager: KVCacheManager, maxModelLength: Int) {
        self.config = config
        self.kvCacheManager = kvCacheManager
        self.maxModelLength = maxModelLength
        waiting = RequestQueue(policy: config.policy)
    }

    public var numWaiting: Int { waiting.count }
    public var numRunning: Int { running.count }
    public var hasUnfinishedRequests: Bool { !requests.isEmpty }

    public func request(_ id: String) -> Request? { requests[id] }

    public func addRequest(_ request: Request) {
        precondition(requests[request.requestId] == nil, "duplicate request id \(request.requestId)")
        requests[request.requestId] = request
        waiting.append(request)
    }

    /// Decides the next step.
    public func schedule() -> SchedulerOutput {
        output.reset()
        var budget = config.maxNumBatchedTokens
        var preemptedThisStep = false

        // 1. Running requests, in order.
        var index = 0
        while index < running.count && budget > 0 {
            let request = running[index]
            var numNew = request.numTokens + request.specTokenIds.count - request.numComputedTokens
            if config.longPrefillTokenThreshold > 0 { numNew = min(numNew, config.longPrefillTokenThreshold) }
            numNew = min(numNew, budget, maxModelLength - 1 - request.numComputedTokens)
            // Drafts the budget or the context cannot take are dropped (vLLM trims them the same way).
            let numSpec = max(0, request.numComputedTokens + numNew - request.numTokens)
            if numSpec < request.specTokenIds.count { request.dropDrafts(keeping: numSpec) }
            if numNew <= 0 {
                index += 1
                continue
            }
            var allocated = false
            while true {
                if kvCacheManager.allocateSlots(request, numNewTokens: numNew) {
                    allocated = true
                    break
                }
                // Out of blocks: preempt the least important running request (possibly this one) and retry.
                let victim = preemptionVictim()!
                let victimIndex = running.firstIndex { $0 === victim }!
                var computed = victim.numComputedTokens
                if let i = output.scheduled.firstIndex(where: { $0.request === victim }) {
                    computed = output.scheduled[i].startPosition
                    budget += output.scheduled[i].numTokens
                    output.totalNumScheduledTokens -= output.scheduled[i].numTokens
                    output.scheduled.remove(at: i)
                }
                preempt(victim, computedTokens: computed)
                preemptedThisStep = true
                if victim === request { break }
                if victimIndex < index { index -= 1 }
            }
            // This request cannot run now; neither can any later one.
            guard allocated else { break }
            schedule(request, numNew: numNew)
            budget -= numNew
            index += 1
        }

        // 2. Waiting requests, only when nothing was preempted this step.
        while !preemptedThisStep && budget > 0 && running.count < config.maxNumSeqs, let request = waiting.first {
            var hits: [[KVCacheBlock?]] = []
            var numHitTokens = 0
            if request.numComputedTokens == 0 {
                (hits, numHitTokens) = kvCacheManager.computedBlocks(for: request)
            }
            var numNew = request.numTokens - request.numComputedTokens - numHitTokens
            if config.longPrefillTokenThreshold > 0 { numNew = min(numNew, config.longPrefillTokenThreshold) }
            if !config.enableChunkedPrefill && numNew > budget { break }
            numNew = min(numNew, budget)
            guard kvCacheManager.allocateSlots(request, numNewTokens: numNew, newComputedBlocks: hits) else { break }
            _ = waiting.popFirst()
            running.append(request)
            request.status = .running
            request.numComputedTokens += numHitTokens
            if request.numCachedTokens < 0 { request.numCachedTokens = numHitTokens }
            if request.firstScheduledTime == nil { request.firstScheduledTime = Date().timeIntervalSinceReferenceDate }
            schedule(request, numNew: numNew)
            budget -= numNew
        }
        return output
    }

    private func schedule(_ request: Request, numNew: Int) {
        let start = request.numComputedTokens
        request.numComputedTokens += numNew
        output.scheduled.append(.init(request: request, startPosition: start, numTokens: numNew,
                                      samplesToken: start + numNew >= request.numTokens,
                                      numSpecTokens: max(0, start + numNew - request.numTokens)))
        output.totalNumScheduledTokens += numNew
    }

    private func preemptionVictim() -> Request? {
        switch config.policy {
        case .fcfs: return running.last
        case .priority: return running.max { RequestQueue.before($0, $1) }
        }
    }

    /// Preemption by recompute: free the KV, forget the progress, wait at the front again.
    /// `computedTokens`: the tokens whose K/V really are in the cache (a victim already scheduled
    /// this step has not computed that step's tokens, whose blocks were cached at allocation).
    private func preempt(_ request: Request, computedTokens: Int) {
        running.removeAll { $0 === request }
        kvCacheManager.free(request, computedTokens: computedTokens)
        request.status = .preempted
        request.numComputedTokens = 0
        request.dropDrafts(keeping: 0)
        request.numPreemptions += 1
        numPreemptions += 1
        waiting.prepend(request)
        output.preemptedRequestIds.append(request.requestId)
    }

    /// Applies the sampled tokens: appends them, checks the stop conditions, frees finished
    /// requests. Returns what each scheduled request produced.
    public func update(from output: SchedulerOutput, sampled: [String: SampledToken]) -> [EngineCoreOutput] {
        var results: [EngineCoreOutput] = []
        results.reserveCapacity(output.scheduled.count)
        let now = Date().timeIntervalSinceReferenceDate
        for item in output.scheduled {
            let request = item.request
            guard !request.isFinished, request.status == .running else { continue }
            guard item.samplesToken, let token = sampled[request.requestId] else {
                kvCacheManager.cacheFullBlocks(request)
                if item.request.samplingParams.promptLogprobs != nil, let s = sampled[request.requestId] {
                    results.append(EngineCoreOutput(requestId: request.requestId, newTokenIds: [], promptLogprobs: s.promptLogprobs))
                }
                continue
            }
            // Rejected drafts give their slots back: their K/V will be overwritten, never hashed.
            let numAccepted = token.tokenIds.count - 1
            request.numComputedTokens -= item.numSpecTokens - numAccepted
            if item.numSpecTokens > 0 { specDecodeStats.record(drafted: item.numSpecTokens, accepted: numAccepted) }
            request.finishVerification(drafted: item.numSpecTokens, accepted: numAccepted)
            var appended = 0
            for id in token.tokenIds where !request.isFinished {
                request.appendOutputToken(id)
                appended += 1
                checkStop(request)
            }
            if request.firstTokenTime == nil {
                request.firstTokenTime = now
                numPromptTokensStarted += request.numPromptTokens
            }
            request.lastTokenTime = now
            kvCacheManager.cacheFullBlocks(request)
            var result = EngineCoreOutput(requestId: request.requestId, newTokenIds: Array(token.tokenIds.prefix(appended)))
            result.logprobs = token.logprobs.map { Array($0.prefix(appended)) }
            result.promptLogprobs = token.promptLogprobs
            result.numCachedTokens = request.numCachedTokens
            result.firstScheduledTime = request.firstScheduledTime
            result.firstTokenTime = request.firstTokenTime
            if request.isFinished {
                result.finishReason = request.status.finishReason
                result.stopReason = request.stopReason
                finish(request)
            }
            results.append(result)
        }
        return results
    }

    /// vLLM's `check_stop`: min_tokens gates EOS and stop tokens; then EOS (unless ignored),
    /// stop token ids, max_tokens and the context length. Checked after each token of an
    /// accepted run, so a stop inside it drops the rest.
    private func checkStop(_ request: Request) {
        let last = request.outputTokenIds.last!
        let params = request.samplingParams
        if request.numTokens >= maxModelLength || request.numOutputTokens >= request.maxTokens {
            request.status = .finishedLengthCapped
        }
        guard request.numOutputTokens >= params.minTokens else { return }
        if !params.ignoreEOS && request.eosTokenIds.contains(last) {
            request.status = .finishedStopped
            request.stopReason = .eos(last)
        } else if params.stopTokenIds.contains(last) {
            request.status = .finishedStopped
            request.stopReason = .token(last)
        }
    }

    /// Finishes requests from outside the core (abort, or a stop string found by the output processor).
    public func finishRequests(_ ids: some Sequence<String>, status: RequestStatus, stopReason: StopReason? = nil) {
        precondition(status.isFinished)
        for id in ids {
            guard let request = requests[id], !request.isFinished else { continue }
            if request.status == .running {
                running.removeAll { $0 === request }
            } else {
                _ = waiting.remove(request)
            }
            request.status = status
            if let stopReason { request.stopReason = stopReason }
            finish(request)
        }
    }

    private func finish(_ request: Request) {
        onFinish?(request)
        running.removeAll { $0 === request }
        kvCacheManager.free(request)
        requests[request.requestId] = nil
    }
}

/// What the model runner sampled for one request.
public struct SampledToken: Sendable {
    /// The accepted drafts and the token sampled after them (one token without speculation).
    public var tokenIds: [Int]
    /// One entry per token of `tokenIds`, when log-probabilities were asked for.
    public var logprobs: [TokenLogprobs]?
    public var promptLogprobs: [TokenLogprobs?]?
}

/// What one step produced for one request (vLLM's `EngineCoreOutput`).
public struct EngineCoreOutput: Sendable {
    public var requestId: String
    public var newTokenIds: [Int]
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
    public var logprobs: [TokenLogprobs]?
    public var promptLogprobs: [TokenLogprobs?]?
    public var numCachedTokens = 0
    public var firstScheduledTime: Double?
    public var firstTokenTime: Double?

    init(requestId: String, newTokenIds: [Int], promptLogprobs: [TokenLogprobs?]? = nil) {
        self.requestId = requestId
        self.newTokenIds = newTokenIds
        self.promptLogprobs = promptLogprobs
    }
}

/// The log-probability of a chosen token and of the most likely alternatives.
public struct TokenLogprobs: Sendable, Equatable {
    public var tokenId: Int
    public var logprob: Float
    /// Rank of the chosen token among all (1 = most likely).
    public var rank: Int
    public var top: [(tokenId: Int, logprob: Float)]

    public static func == (a: TokenLogprobs, b: TokenLogprobs) -> Bool {
        a.tokenId == b.tokenId && a.logprob == b.logprob && a.rank == b.rank
            && a.top.map(\.tokenId) == b.top.map(\.tokenId) && a.top.map(\.logprob) == b.top.map(\.logprob)
    }
}
