import Foundation
import KVTransfer

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
    /// The KV connector's scheduler side, and what to do when a load fails.
    var connector: (any KVConnectorScheduler)?
    var loadFailurePolicy = KVTransferConfig.LoadFailurePolicy.recompute
    /// Requests scheduled this step with a synchronous load, and where their external tokens start.
    private var syncLoadStarts: [String: Int] = [:]
    /// Requests waiting for external KV, with the number of tokens asked for.
    private var waitingForRemoteKVs: [String: (request: Request, numExternalTokens: Int)] = [:]
    /// Finished requests whose blocks a transfer still reads: freed when the connector says so.
    private var pendingFree: [String: Request] = [:]

    public init(config: SchedulerConfig, kvCacheManager: KVCacheManager, maxModelLength: Int) {
        self.config = config
        self.kvCacheManager = kvCacheManager
        self.maxModelLength = maxModelLength
        waiting = RequestQueue(policy: config.policy)
    }

    public var numWaiting: Int { waiting.count }
    public var numRunning: Int { running.count }
    public var hasUnfinishedRequests: Bool { !requests.isEmpty || !pendingFree.isEmpty }
    /// Requests waiting for their external KV.
    public var numWaitingForRemoteKVs: Int { waitingForRemoteKVs.count }
    /// Whether requests wait on transfers (so an empty step should wait for the connector).
    public var hasPendingTransfers: Bool { !waitingForRemoteKVs.isEmpty || !pendingFree.isEmpty }

    public func request(_ id: String) -> Request? { requests[id] }

    public func addRequest(_ request: Request) {
        precondition(requests[request.requestId] == nil, "duplicate request id \(request.requestId)")
        requests[request.requestId] = request
        waiting.append(request)
    }

    /// Decides the next step.
    public func schedule(finishedTransfers: KVConnectorFinished = KVConnectorFinished()) -> SchedulerOutput {
        output.reset()
        applyFinishedTransfers(finishedTransfers)
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
        var skipped: [Request] = []
        defer { for request in skipped.reversed() { waiting.prepend(request) } }
        while !preemptedThisStep && budget > 0 && running.count < config.maxNumSeqs, let request = waiting.first {
            var hits: [[KVCacheBlock?]] = []
            var numHitTokens = 0
            if request.numComputedTokens == 0 {
                (hits, numHitTokens) = kvCacheManager.computedBlocks(for: request)
            }
            // Tokens a connector loads inside this step (synchronously): computed as of now.
            var loadedNow = 0
            if request.numComputedTokens == 0, let connector {
                let view = connectorView(request)
                let (matched, loadAsync) = connector.numNewMatchedTokens(view, numComputedTokens: numHitTokens)
                guard let external = matched else {
                    // Not known yet: ask again next step.
                    skipped.append(waiting.popFirst()!)
                    continue
                }
                if external > 0 && !loadAsync { loadedNow = external }
                if external > 0 && loadAsync {
                    // Blocks for the external tokens now, uncached until they arrive; no compute this step.
                    guard kvCacheManager.allocateSlots(request, numNewTokens: external, newComputedBlocks: hits, cachesNewBlocks: false) else { break }
                    _ = waiting.popFirst()
                    kvCacheManager.recordLookup(request, numHitTokens: numHitTokens)
                    request.status = .waitingForRemoteKVs
                    request.numComputedTokens = numHitTokens
                    if request.firstScheduledTime == nil { request.firstScheduledTime = Date().timeIntervalSinceReferenceDate }
                    if request.numCachedTokens < 0 { request.numCachedTokens = numHitTokens }
                    waitingForRemoteKVs[request.requestId] = (request, external)
                    connector.updateStateAfterAlloc(view, blockIds: request.blockIds, numComputedTokens: numHitTokens, numExternalTokens: external)
                    continue
                }
            }
            var numNew = request.numTokens - request.numComputedTokens - numHitTokens - loadedNow
            if config.longPrefillTokenThreshold > 0 { numNew = min(numNew, config.longPrefillTokenThreshold) }
            if !config.enableChunkedPrefill && numNew > budget { break }
            numNew = min(numNew, budget)
            // Blocks a synchronous load fills are cached after the step, once they are known good.
            guard kvCacheManager.allocateSlots(request, numNewTokens: loadedNow + numNew, newComputedBlocks: hits,
                                               cachesNewBlocks: loadedNow == 0) else { break }
            _ = waiting.popFirst()
            if request.numComputedTokens == 0 { kvCacheManager.recordLookup(request, numHitTokens: numHitTokens) }
            running.append(request)
            request.status = .running
            request.numComputedTokens += numHitTokens + loadedNow
            if request.numCachedTokens < 0 { request.numCachedTokens = numHitTokens + loadedNow }
            if request.firstScheduledTime == nil { request.firstScheduledTime = Date().timeIntervalSinceReferenceDate }
            if loadedNow > 0, let connector {
                connector.updateStateAfterAlloc(connectorView(request), blockIds: request.blockIds, numComputedTokens: numHitTokens,
                                                numExternalTokens: loadedNow)
                syncLoadStarts[request.requestId] = numHitTokens
            }
            schedule(request, numNew: numNew)
            budget -= numNew
        }
        if let connector { output.kvConnectorMetadata = connector.buildConnectorMetadata(saves: connector.savesBlocks ? blocksToSave() : []) }
        return output
    }

    /// The request as the connector sees it.
    private func connectorView(_ request: Request) -> KVConnectorRequest {
        KVConnectorRequest(requestId: request.requestId, tokenIds: request.allTokenIds,
                           blockKeys: request.blockHashes.map { KVBlockKey(high: $0.high, low: $0.low) },
                           numPromptTokens: request.numPromptTokens, params: request.samplingParams.kvTransferParams)
    }

    /// The full blocks of known tokens each scheduled request computes this step (draft slots
    /// are past the known tokens, so a rejected draft never lands in a saved block).
    private func blocksToSave() -> [KVRequestTransfer] {
        let size = kvCacheManager.blockSize
        var saves: [KVRequestTransfer] = []
        for item in output.scheduled {
            let request = item.request
            // The first chunk after prefix hits also lists the hit blocks (a remote decode
            // instance has none of them; a store that has them skips them).
            let first = item.startPosition == max(request.numCachedTokens, 0) ? 0 : item.startPosition / size
            let end = min((item.startPosition + item.numTokens) / size, request.numTokens / size, request.blockHashes.count)
            guard end > first else { continue }
            let blocks = (first..<end).map { i in
                KVBlockTransfer(index: i, key: KVBlockKey(high: request.blockHashes[i].high, low: request.blockHashes[i].low),
                                tokenIds: Array(request.allTokenIds[(i * size)..<((i + 1) * size)]),
                                blockIds: request.blockIds.map { $0[i] })
            }
            saves.append(KVRequestTransfer(requestId: request.requestId, blocks: blocks, params: request.samplingParams.kvTransferParams))
        }
        return saves
    }

    /// Frees what finished transfers released, and puts requests whose external KV arrived
    /// back at the front of the queue with it counted as computed (and cached, so it joins the
    /// prefix cache). A load that came short is recomputed, or fails the request.
    private func applyFinishedTransfers(_ finished: KVConnectorFinished) {
        guard !finished.isEmpty else { return }
        for id in finished.sending {
            if let request = pendingFree.removeValue(forKey: id) { kvCacheManager.free(request) }
        }
        for (id, numTokens) in finished.receiving.sorted(by: { $0.key < $1.key }) {
            guard let (request, asked) = waitingForRemoteKVs.removeValue(forKey: id) else { continue }
            if numTokens < asked && loadFailurePolicy == .fail {
                request.status = .finishedAborted
                output.failedLoadRequestIds.append(id)
                finish(request)
                continue
            }
            request.numComputedTokens += numTokens
            request.numCachedTokens += numTokens
            if request.numComputedTokens == 0 {
                // Nothing arrived and nothing was a local hit: start over as a new request.
                kvCacheManager.free(request)
            } else {
                kvCacheManager.cacheFullBlocks(request)
            }
            request.status = .waiting
            waiting.prepend(request)
        }
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
    /// requests. Appends what each scheduled request produced to `results` (their token ids are
    /// slices of `sampled`'s).
    /// - Parameter loadErrors: requests whose synchronous load came short this step, with the
    ///   external tokens that arrived: the step's work past them is dropped and recomputed (or
    ///   the request fails, as configured).
    public func update(from output: SchedulerOutput, sampled: SampledTokens, loadErrors: [String: Int] = [:],
                       into results: inout [EngineCoreOutput]) {
        let now = Date().timeIntervalSinceReferenceDate
        let syncStarts = syncLoadStarts
        if !syncLoadStarts.isEmpty { syncLoadStarts = [:] }
        for (i, item) in output.scheduled.enumerated() {
            let request = item.request
            guard !request.isFinished, request.status == .running else { continue }
            let produced = i < sampled.count && sampled.produced(i)
            if let arrived = loadErrors[request.requestId], let start = syncStarts[request.requestId] {
                // The runner's grammar matcher took the step's tokens: it gives them back too.
                if produced, !sampled.tokens(i).isEmpty { request.grammarMatcher?.rollback(sampled.tokens(i).count) }
                if let failed = takeBack(request, validTokens: start + arrived) { results.append(failed) }
                continue
            }
            guard item.samplesToken, produced else {
                kvCacheManager.cacheFullBlocks(request)
                if item.request.samplingParams.promptLogprobs != nil, produced {
                    results.append(EngineCoreOutput(requestId: request.requestId, newTokenIds: [], promptLogprobs: sampled.promptLogprobs[i]))
                }
                continue
            }
            let tokens = sampled.tokens(i)
            // Rejected drafts give their slots back: their K/V will be overwritten, never hashed.
            let numAccepted = tokens.count - 1
            request.numComputedTokens -= item.numSpecTokens - numAccepted
            if item.numSpecTokens > 0 { specDecodeStats.record(drafted: item.numSpecTokens, accepted: numAccepted) }
            request.finishVerification(drafted: item.numSpecTokens, accepted: numAccepted)
            var appended = 0
            for id in tokens where !request.isFinished {
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
            var result = EngineCoreOutput(requestId: request.requestId, newTokenIds: tokens.prefix(appended))
            result.logprobs = sampled.logprobs[i].map { Array($0.prefix(appended)) }
            result.promptLogprobs = sampled.promptLogprobs[i]
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
    }

    /// A synchronous load came short: only the first `validTokens` hold real K/V. The step's
    /// token is dropped and the request computes on from there next step, or, with the `fail`
    /// policy, ends now (its final output says abort).
    private func takeBack(_ request: Request, validTokens: Int) -> EngineCoreOutput? {
        kvCacheManager.uncacheUncomputed(request, computedTokens: validTokens)
        request.numComputedTokens = validTokens
        request.numCachedTokens = min(request.numCachedTokens, validTokens)
        guard loadFailurePolicy == .fail else { return nil }
        request.status = .finishedAborted
        var result = EngineCoreOutput(requestId: request.requestId, newTokenIds: [])
        result.finishReason = .abort
        finish(request)
        return result
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
            switch request.status {
            case .running: running.removeAll { $0 === request }
            case .waitingForRemoteKVs: waitingForRemoteKVs[id] = nil
            default: _ = waiting.remove(request)
            }
            request.status = status
            if let stopReason { request.stopReason = stopReason }
            finish(request)
        }
    }

    /// Ends every request of a step that failed before its tokens were computed: nothing of the
    /// step is kept (blocks it would have filled lose the hashes they got at allocation).
    public func failScheduled(_ output: SchedulerOutput) {
        syncLoadStarts.removeAll(keepingCapacity: true)
        for item in output.scheduled {
            let request = item.request
            guard requests[request.requestId] != nil, !request.isFinished else { continue }
            kvCacheManager.uncacheUncomputed(request, computedTokens: item.startPosition)
            request.status = .finishedAborted
            finish(request)
        }
    }

    private func finish(_ request: Request) {
        onFinish?(request)
        running.removeAll { $0 === request }
        requests[request.requestId] = nil
        if let connector, connector.requestFinished(request.requestId, params: request.samplingParams.kvTransferParams, blockIds: request.blockIds) {
            pendingFree[request.requestId] = request
        } else {
            kvCacheManager.free(request)
        }
    }
}

/// What one step produced for one request (vLLM's `EngineCoreOutput`).
public struct EngineCoreOutput: Sendable {
    public var requestId: String
    /// The tokens the request gained this step (a slice of the step's ``SampledTokens``).
    public var newTokenIds: ArraySlice<Int>
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
    public var logprobs: [TokenLogprobs]?
    public var promptLogprobs: [TokenLogprobs?]?
    public var numCachedTokens = 0
    public var firstScheduledTime: Double?
    public var firstTokenTime: Double?

    init(requestId: String, newTokenIds: ArraySlice<Int>, promptLogprobs: [TokenLogprobs?]? = nil) {
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
