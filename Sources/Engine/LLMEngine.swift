import Foundation
import KVTransfer
import Models
import StructuredOutput
import Tokenization

/// The synchronous engine (vLLM's `LLMEngine`): add requests, call ``step()`` until
/// ``hasUnfinishedRequests`` is false, collect ``RequestOutput`` deltas. One step is
/// schedule → forward → sample → update → detokenize.
///
/// Not thread-safe: drive it from one thread (``AsyncLLMEngine`` does that for async callers).
public final class LLMEngine {
    public let model: any CausalLM
    public let tokenizer: Tokenizer
    public let config: EngineConfig
    public let inputProcessor: InputProcessor
    public let scheduler: Scheduler
    public let runner: ModelRunner
    private let outputProcessor: OutputProcessor
    private var counters = EngineStats()
    private let eosTokenIds: Set<Int>
    /// Expert load recording and balancing (MoE models only).
    private let eplb: EPLBState?
    /// Speculative decoding's proposer and draft lengths; nil without it.
    private let speculator: Speculator?
    /// Core request ids of each caller request (one, or n children).
    private var childIds: [String: [String]] = [:]
    /// What the core produced in the current step (storage reused across steps).
    private var coreOutputs: [EngineCoreOutput] = []
    /// The KV connector (`--kv-transfer-config`); nil without one.
    public let kvConnector: (any KVConnector)?
    /// Maps the KV cache ahead of the blocks in use; nil where ``EngineConfig/kvPopulateAheadBytes``
    /// is 0 or the whole cache was mapped at start (``EngineConfig/populatesKVCache``).
    private(set) var populator: KVCachePopulator?

    /// - Parameter chatTemplate: Jinja source that replaces the model's own chat template.
    /// - Parameter kvConnector: a connector made by the caller, used instead of the one
    ///   `config.kvTransfer` names (its load failure policy still applies).
    public init(model: any CausalLM, tokenizer: Tokenizer, config: EngineConfig = EngineConfig(),
                chatTemplate: String? = nil, kvConnector: (any KVConnector)? = nil) throws(EngineConfigError) {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        let c = model.config
        let layout = model.kvCacheLayout
        let bytesPerBlock = layout.bytesPerBlock(blockSize: config.blockSize, kvHeads: c.numKVHeads, headDim: c.headDim,
                                                 precision: config.kvCacheDtype)
        let bytes = config.kvCacheBytes(physicalMemory: ProcessInfo.processInfo.physicalMemory)
        let numBlocks = bytes / bytesPerBlock
        guard numBlocks > 0 else { throw .kvCacheTooSmall(bytes: bytes, bytesPerBlock: bytesPerBlock) }
        guard config.scheduler.maxNumBatchedTokens > 0, config.scheduler.maxNumSeqs > 0, config.blockSize > 0 else {
            throw .invalid("max_num_batched_tokens, max_num_seqs and block_size must be positive")
        }
        let fits = layout.maxTokens(numBlocks: numBlocks, blockSize: config.blockSize, chunkTokens: config.scheduler.maxNumBatchedTokens)
        let maxModelLength = min(config.maxModelLength ?? c.contextLength, c.contextLength, fits)
        guard maxModelLength > 0 else { throw .kvCacheTooSmall(bytes: bytes, bytesPerBlock: bytesPerBlock) }
        let kvCache = model.makeKVCache(numBlocks: numBlocks, blockSize: config.blockSize, precision: config.kvCacheDtype)
        let manager = KVCacheManager(numBlocks: numBlocks, blockSize: config.blockSize, enableCaching: config.enablePrefixCaching,
                                     groups: layout.groups.map(\.attention))
        scheduler = Scheduler(config: config.scheduler, kvCacheManager: manager, maxModelLength: maxModelLength)
        runner = ModelRunner(model: model, kvCache: kvCache)
        runner.reserveBatch(tokens: config.scheduler.maxNumBatchedTokens, sequences: config.scheduler.maxNumSeqs,
                            blocksPerSequence: (maxModelLength + config.blockSize - 1) / config.blockSize + 1)
        inputProcessor = InputProcessor(tokenizer: tokenizer, maxModelLength: maxModelLength,
                                        chatTemplate: tokenizer.chatTemplate(overriding: chatTemplate))
        outputProcessor = OutputProcessor(tokenizer: tokenizer)
        eosTokenIds = tokenizer.vocabulary.endOfGenerationIds
        if let router = model.expertRouter {
            eplb = try EPLBState(router: router, config: config.eplb ?? EPLBConfig(), rebalancing: config.eplb != nil)
        } else if config.eplb != nil {
            throw .invalid("--enable-eplb needs a mixture-of-experts model; \(c.architecture) has no experts")
        } else {
            eplb = nil
        }
        let connector: (any KVConnector)?
        if let kvConnector {
            connector = kvConnector
        } else if let transfer = config.kvTransfer {
            let identity = KVStoreIdentity(
                model: config.modelIdentity ?? "\(c.architecture)|\(c.numLayers)|\(c.hiddenSize)|\(c.vocabSize)|\(c.numKVHeads)|\(c.headDim)",
                dtype: "\(config.kvCacheDtype)", blockSize: config.blockSize, bytesPerBlock: kvCache.bytesPerBlock,
                numGroups: layout.numGroups)
            do throws(KVTransferConfigError) {
                connector = try KVConnectorFactory.make(transfer, identity: identity, numLayers: kvCache.numLayers,
                                                        layerBlockBytes: 2 * kvCache.bytesPerBlockSlot,
                                                        layerWindows: layout.groupOfLayer.map { layout.groups[$0].attention.window }) { line in
                    FileHandle.standardError.write(Data(("warning: " + line + "\n").utf8))
                }
            } catch { throw .kvTransfer(error) }
        } else {
            connector = nil
        }
        self.kvConnector = connector
        connector?.registerKVCache(kvCache)
        scheduler.connector = connector
        scheduler.loadFailurePolicy = config.kvTransfer?.loadFailurePolicy ?? .recompute
        runner.connector = connector
        if let spec = config.speculative {
            do {
                speculator = try Speculator.make(spec, model: model, tokenizer: tokenizer, kvCacheTokens: numBlocks * config.blockSize,
                                                 blockSize: config.blockSize, precision: config.kvCacheDtype)
            } catch { throw .speculative(error) }
            scheduler.onFinish = { [unowned self] in self.speculator?.finished($0) }
        } else {
            speculator = nil
        }
        // Last: nothing after it throws, so deinit always stops its thread.
        if config.populatesKVCache {
            // On the engine's threads: first touches of memory are slow on these VMs (the host backs each page).
            model.pool.parallelRanges(numBlocks, chunksPerThread: 1) { kvCache.populate(blocks: $0) }
        } else if config.kvPopulateAheadBytes > 0 {
            populator = KVCachePopulator(cache: kvCache, aheadBlocks: max(1, config.kvPopulateAheadBytes / bytesPerBlock))
        }
    }

    public var maxModelLength: Int { scheduler.maxModelLength }

    /// Lets the KV connector finish what is in flight (saves reach the disk tier); call before
    /// dropping the engine. The engine stays usable.
    public func close() { kvConnector?.flush() }

    deinit { populator?.stop() }

    public var hasUnfinishedRequests: Bool { scheduler.hasUnfinishedRequests }

    /// Validates and queues a request; returns its id.
    @discardableResult
    public func addRequest(_ prompt: PromptInput, params: SamplingParams, requestId: String? = nil, priority: Int = 0) throws(InputError) -> String {
        let requests = try inputProcessor.process(prompt, params: params, requestId: requestId, priority: priority)
        try add(requests)
        return requests[0].parentId
    }

    /// Queues requests made by ``InputProcessor/process(_:params:requestId:priority:arrivalTime:)``.
    public func add(_ requests: [EngineCoreRequest]) throws(InputError) {
        for r in requests where scheduler.request(r.requestId) != nil || childIds[r.parentId] != nil { throw .duplicateRequestId(r.parentId) }
        for r in requests {
            let request = Request(requestId: r.requestId, promptTokenIds: r.promptTokenIds, samplingParams: r.samplingParams,
                                  eosTokenIds: eosTokenIds, maxModelLength: maxModelLength, blockSize: config.blockSize,
                                  priority: r.priority, arrivalTime: r.arrivalTime)
            request.grammarMatcher = r.grammar.map { GrammarMatcher(compiled: $0) }
            scheduler.addRequest(request)
            outputProcessor.addRequest(r)
            childIds[r.parentId, default: []].append(r.requestId)
        }
    }

    /// Aborts a request (all its completions); returns the final pieces. Its blocks are freed now.
    @discardableResult
    public func abortRequest(_ requestId: String) -> [RequestOutput] {
        var outputs: [RequestOutput] = []
        for id in childIds.removeValue(forKey: requestId) ?? [] where scheduler.request(id) != nil {
            scheduler.finishRequests([id], status: .finishedAborted)
            if let o = outputProcessor.abort(id) { outputs.append(o) }
        }
        return outputs
    }

    /// One engine step: schedule, run the model, sample, update the requests, detokenize.
    public func step() -> [RequestOutput] {
        eplb?.installIfPrepared()
        let schedulerOutput = scheduler.schedule(finishedTransfers: kvConnector?.finished() ?? KVConnectorFinished())
        populator?.keepAhead(of: scheduler.kvCacheManager.blockPool.highWater)
        var failed: [RequestOutput] = []
        for id in schedulerOutput.failedLoadRequestIds {
            if let output = outputProcessor.abort(id) { failed.append(output) }
        }
        for output in failed where output.finished { childIds[output.requestId] = nil }
        guard !schedulerOutput.isEmpty else {
            if let kvConnector {
                if !schedulerOutput.kvConnectorMetadata.isEmpty { kvConnector.startLoad(schedulerOutput.kvConnectorMetadata, cache: runner.kvCache) }
                // Nothing to compute, but transfers to wait for: idle on them instead of spinning.
                if scheduler.hasPendingTransfers { kvConnector.waitForProgress(seconds: 0.005) }
            }
            return failed
        }
        let started = speculator == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        let sampled = runner.execute(schedulerOutput)
        if let failure = runner.stepFailure { return failed + failStep(schedulerOutput, failure) }
        if let speculator {
            speculator.recordStep(schedulerOutput, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        eplb?.endStep()
        scheduler.update(from: schedulerOutput, sampled: sampled, loadErrors: kvConnector?.takeLoadErrors() ?? [:], into: &coreOutputs)
        speculator?.observe(schedulerOutput, runner: runner)
        let (outputs, stopped) = outputProcessor.process(coreOutputs)
        for (id, reason) in stopped { scheduler.finishRequests([id], status: .finishedStopped, stopReason: reason) }
        speculator?.propose(scheduler.running)
        counters.steps += 1
        for item in schedulerOutput.scheduled {
            let promptPart = max(0, min(item.startPosition + item.numTokens, item.request.numPromptTokens) - item.startPosition)
            counters.prefilledTokens += promptPart
        }
        counters.generationTokens += coreOutputs.reduce(0) { $0 + $1.newTokenIds.count }
        // Lets go of the step's token slices, so the runner refills its storage in place.
        coreOutputs.removeAll(keepingCapacity: true)
        for output in outputs where output.finished {
            counters.finishedRequests += 1
            childIds[output.requestId] = nil
        }
        return failed.isEmpty ? outputs : failed + outputs
    }

    /// Ends the requests of a step whose forward pass failed (an expert worker died or hung), with
    /// every other completion of theirs: each gets its last piece with ``RequestOutput/failure``.
    private func failStep(_ output: SchedulerOutput, _ message: String) -> [RequestOutput] {
        FileHandle.standardError.write(Data("error: a step of \(output.scheduled.count) requests failed: \(message)\n".utf8))
        eplb?.endStep()
        eplb?.stepFailed()
        let failedIds = Set(output.scheduled.map(\.request.requestId))
        scheduler.failScheduled(output)
        let parents = childIds.filter { !failedIds.isDisjoint(with: $0.value) }
        var outputs: [RequestOutput] = []
        for (parent, children) in parents.sorted(by: { $0.key < $1.key }) {
            childIds[parent] = nil
            for child in children {
                if scheduler.request(child) != nil { scheduler.finishRequests([child], status: .finishedAborted) }
                if var piece = outputProcessor.abort(child) {
                    piece.failure = RequestFailure(message)
                    outputs.append(piece)
                }
            }
        }
        return outputs
    }

    public var stats: EngineStats {
        var s = counters
        s.numRunning = scheduler.numRunning
        s.numWaiting = scheduler.numWaiting
        s.kvCacheUsage = scheduler.kvCacheManager.usage
        s.numKVBlocks = scheduler.kvCacheManager.blockPool.blocks.count
        s.prefixCache = scheduler.kvCacheManager.stats
        s.numPreemptions = scheduler.numPreemptions
        s.promptTokens = scheduler.numPromptTokensStarted
        s.expertLoad = eplb?.stats
        s.expertParallel = runner.model.expertRouter?.dispatcher?.stats
        if speculator != nil { s.specDecode = scheduler.specDecodeStats }
        s.kvTransfer = kvConnector?.stats
        s.numWaitingForRemoteKVs = scheduler.numWaitingForRemoteKVs
        return s
    }

    /// Runs every queued request to completion and returns the complete outputs, in the order
    /// their requests finished.
    public func runToCompletion() -> [String: [CompletionResult]] {
        var results: [String: [Int: CompletionResult]] = [:]
        while hasUnfinishedRequests {
            for output in step() {
                for piece in output.outputs {
                    var r = results[output.requestId, default: [:]][piece.index] ?? CompletionResult(index: piece.index)
                    r.append(piece)
                    if let failure = output.failure { r.failure = failure }
                    results[output.requestId, default: [:]][piece.index] = r
                }
            }
        }
        return results.mapValues { $0.values.sorted { $0.index < $1.index } }
    }
}

/// A whole completion, accumulated from its deltas.
public struct CompletionResult: Sendable {
    public var index: Int
    public var text = ""
    public var tokenIds: [Int] = []
    public var logprobs: [TokenLogprobs] = []
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
    /// Why the engine ended the completion unfinished (its step failed), if it did.
    public var failure: RequestFailure?

    public init(index: Int) { self.index = index }

    public mutating func append(_ piece: CompletionOutput) {
        text += piece.text
        tokenIds += piece.tokenIds
        logprobs += piece.logprobs ?? []
        if let f = piece.finishReason { finishReason = f }
        if let s = piece.stopReason { stopReason = s }
    }
}
