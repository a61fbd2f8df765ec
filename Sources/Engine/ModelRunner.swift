import Dispatch
import KVTransfer
import Models
import SpecDecode
import StructuredOutput

/// Turns a ``SchedulerOutput`` into one flat batch, runs the model over the paged KV cache and
/// samples for every request whose scheduled chunk reached its last known token: one token, or,
/// with draft tokens scheduled after it, the accepted drafts and the token after them, all
/// scored in the same pass (speculative decoding's verification).
public final class ModelRunner {
    public let model: any CausalLM
    public let kvCache: KVCache
    private var batch = ForwardBatch()
    private let workspace = ForwardWorkspace()
    private var sampler = Sampler()
    private var processed: [Float]
    private var distribution: [Float]
    /// The allowed tokens of a request with a grammar, refilled per sampled row.
    private var bitmask: TokenBitmask
    /// Fills the next rows' grammar masks while the forward pass runs.
    private let prefetcher: GrammarMaskPrefetcher
    private var rows: [(sample: Range<Int>, promptStart: Int, promptRows: Range<Int>)] = []
    private var sampled = SampledTokens()
    /// Whether grammar masks are filled on a helper thread during the forward pass (else at
    /// sampling, after it).
    public var overlapsGrammarMasks = true
    /// Whether to record how long each grammar mask takes (``maskNanoseconds``; benchmarks).
    public var recordsMaskTimes = false
    /// Nanoseconds each grammar mask took while ``recordsMaskTimes`` was on.
    public var maskNanoseconds: [UInt64] = []
    /// The KV connector's worker side: loads start before the forward pass, each layer waits
    /// for its loads and hands its new blocks on, and saves end after the pass.
    var connector: (any KVConnectorWorker)? {
        didSet { workspace.layerHooks = connector.map { ConnectorLayerHooks(connector: $0, cache: kvCache) } }
    }
    /// The batch row of each scheduled request's first token, in the last step.
    private(set) var tokenOffsets: [Int] = []

    public init(model: any CausalLM, kvCache: KVCache) {
        self.model = model
        self.kvCache = kvCache
        processed = [Float](repeating: 0, count: model.config.vocabSize)
        distribution = processed
        bitmask = TokenBitmask(vocabSize: model.config.vocabSize)
        prefetcher = GrammarMaskPrefetcher(vocabSize: model.config.vocabSize)
    }

    /// Reserves the batch for the scheduler's limits: decode steps whose block tables grow then
    /// never reallocate it.
    public func reserveBatch(tokens: Int, sequences: Int, blocksPerSequence: Int) {
        batch.reserveCapacity(tokens: tokens, sequences: sequences, blocksPerSequence: blocksPerSequence,
                              groups: kvCache.layout.numGroups)
    }

    /// The target's final hidden state of every token of the last step (models with MTP layers only).
    var lastHiddenStates: UnsafeBufferPointer<Float> { workspace.lastHiddenStates }

    /// Why the last ``execute(_:)`` produced nothing (its expert workers failed); nil when it ran.
    private(set) var stepFailure: String?

    /// Runs the step; returns what each scheduled request produced (storage the runner reuses
    /// next step).
    public func execute(_ output: SchedulerOutput) -> SampledTokens {
        stepFailure = nil
        sampled.removeAll()
        guard !output.isEmpty else { return sampled }
        buildBatch(output)
        prefetcher.recordsTimes = recordsMaskTimes
        if overlapsGrammarMasks { prefetcher.start(output) }
        connector?.startLoad(output.kvConnectorMetadata, cache: kvCache)
        let logits = model.forward(batch, cache: kvCache, workspace: workspace)
        connector?.waitForSave(cache: kvCache)
        if let failure = model.expertRouter?.dispatcher?.takeFailure() {
            stepFailure = failure
            _ = prefetcher.wait()
            prefetcher.clear()
            return sampled
        }
        let prefetchTimes = prefetcher.wait()
        if recordsMaskTimes { maskNanoseconds += prefetchTimes }
        defer { prefetcher.clear() }
        let vocab = model.config.vocabSize
        func row(_ r: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: logits[(r * vocab)..<((r + 1) * vocab)]) }

        for (item, rowInfo) in zip(output.scheduled, rows) {
            let request = item.request
            var promptLogprobs: [TokenLogprobs?]?
            if let n = request.samplingParams.promptLogprobs {
                // Row r scores prompt token (promptStart + r + 1); the very first prompt token has none.
                var list: [TokenLogprobs?] = item.startPosition == 0 ? [nil] : []
                for (k, r) in rowInfo.promptRows.enumerated() {
                    list.append(Logprobs.compute(row(r), token: request.promptTokenIds[rowInfo.promptStart + k + 1], topN: n))
                }
                promptLogprobs = list
            }
            sampled.startItem(promptLogprobs: promptLogprobs)
            guard !rowInfo.sample.isEmpty else { continue }
            let first = rowInfo.sample.lowerBound
            let drafts = request.specTokenIds.prefix(item.numSpecTokens)
            if drafts.isEmpty {
                sampled.append(sample(row(first), for: request))
            } else {
                for token in verify(drafts, rows: first, row: row, for: request) { sampled.append(token) }
            }
            let tokens = sampled.tokens(sampled.count - 1)
            if let matcher = request.grammarMatcher { for token in tokens { _ = matcher.acceptToken(token) } }
            if let n = request.samplingParams.logprobs {
                sampled.setLogprobs(tokens.enumerated().map { Logprobs.compute(row(first + $0.offset), token: $0.element, topN: n) })
            }
        }
        return sampled
    }

    private func sample(_ raw: UnsafeBufferPointer<Float>, for request: Request) -> Int {
        let params = request.samplingParams
        return withProcessed(raw, for: request, pending: []) { sampler.sample($0, params: params, rng: &request.rng) }
    }

    /// The accepted drafts and the token after them; row `first + j` holds the logits after
    /// the first j drafts.
    private func verify(_ drafts: ArraySlice<Int>, rows first: Int, row: (Int) -> UnsafeBufferPointer<Float>,
                        for request: Request) -> [Int] {
        let params = request.samplingParams
        // A grammar's mask at row j is the one after the first j drafts: the matcher takes them
        // as the rows are reached and gives them back at the end.
        var advanced = 0
        defer { request.grammarMatcher?.rollback(advanced) }
        func advance(to j: Int) {
            guard let matcher = request.grammarMatcher else { return }
            while advanced < j, matcher.acceptToken(drafts[drafts.startIndex + advanced]) { advanced += 1 }
        }
        if params.isGreedy {
            return RejectionSampler.verifyGreedy(draft: drafts) { j in
                advance(to: j)
                return withProcessed(row(first + j), for: request, pending: drafts.prefix(j)) { Sampler.argmax($0) }
            }
        }
        var out: [Int] = []
        for j in 0...drafts.count {
            advance(to: j)
            let pending = drafts.prefix(j)
            let token: Int? = withProcessed(row(first + j), for: request, pending: pending) { logits in
                distribution.withUnsafeMutableBufferPointer { p in
                    sampler.distribution(logits, params: params, into: p)
                    let target = UnsafeBufferPointer(p)
                    let u = request.rng.nextUnit()
                    guard j < drafts.count else { return RejectionSampler.draw(target, uniform: u) }
                    let d = drafts[drafts.startIndex + j], q = request.specProbabilities?[j]
                    if RejectionSampler.accepts(d, target: target, draft: q, uniform: u) { return nil }
                    return RejectionSampler.recover(target: target, draft: q, rejected: d, uniform: request.rng.nextUnit())
                }
            }
            guard let token else {
                out.append(drafts[drafts.startIndex + j])
                continue
            }
            out.append(token)
            break
        }
        return out
    }

    /// Runs `body` on the row after the request's logit edits (penalties, bias, min_tokens) and
    /// its grammar's mask, or on the raw row when there are none.
    private func withProcessed<T>(_ raw: UnsafeBufferPointer<Float>, for request: Request, pending: ArraySlice<Int>,
                                  _ body: (UnsafeBufferPointer<Float>) -> T) -> T {
        let edits = LogitsProcessor.isNeeded(for: request, pending: pending.count)
        let matcher = request.grammarMatcher
        guard edits || matcher != nil else { return body(raw) }
        return processed.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.update(from: raw.baseAddress!, count: min(raw.count, buffer.count))
            if edits { LogitsProcessor.apply(buffer, request: request, pending: pending) }
            if let matcher {
                let prefetched = pending.isEmpty ? prefetcher.withMask(for: request) { $0.apply(to: buffer) } : nil
                if prefetched == nil {
                    let start = recordsMaskTimes ? DispatchTime.now().uptimeNanoseconds : 0
                    matcher.fillNextTokenBitmask(&bitmask)
                    if recordsMaskTimes { maskNanoseconds.append(DispatchTime.now().uptimeNanoseconds - start) }
                    bitmask.apply(to: buffer)
                }
            }
            return body(UnsafeBufferPointer(buffer))
        }
    }

    private func buildBatch(_ output: SchedulerOutput) {
        var stride = 0
        for item in output.scheduled { for table in item.request.blockIds { stride = max(stride, table.count) } }
        batch.removeAll(blockTableStride: stride, groups: kvCache.layout.numGroups)
        rows.removeAll(keepingCapacity: true)
        tokenOffsets.removeAll(keepingCapacity: true)
        var nextRow = 0
        for item in output.scheduled {
            let request = item.request
            let seq = batch.addSequence(blockTables: request.blockIds)
            tokenOffsets.append(batch.count)
            let end = item.startPosition + item.numTokens
            let known = request.numTokens
            let wantsPrompt = request.samplingParams.promptLogprobs != nil
            let promptEnd = min(end, request.numPromptTokens - 1)
            let promptRows = wantsPrompt && promptEnd > item.startPosition ? nextRow..<(nextRow + promptEnd - item.startPosition) : nextRow..<nextRow
            var sampleStart: Int?
            for p in item.startPosition..<end {
                let isPromptRow = wantsPrompt && p < promptEnd
                // The last known token and every draft after it are scored.
                let isSampleRow = item.samplesToken && p >= known - 1
                if isSampleRow && sampleStart == nil { sampleStart = nextRow }
                let token = p < known ? request.allTokenIds[p] : request.specTokenIds[p - known]
                batch.addToken(Int32(token), position: Int32(p), sequence: seq, wantsLogits: isPromptRow || isSampleRow)
                if isPromptRow || isSampleRow { nextRow += 1 }
            }
            let sample = sampleStart.map { $0..<nextRow } ?? nextRow..<nextRow
            rows.append((sample: sample, promptStart: item.startPosition, promptRows: promptRows))
        }
    }
}

/// Calls a KV connector around each layer of a forward pass.
final class ConnectorLayerHooks: ForwardLayerHooks {
    let connector: any KVConnectorWorker
    let cache: KVCache

    init(connector: any KVConnectorWorker, cache: KVCache) {
        self.connector = connector
        self.cache = cache
    }

    func willCompute(layer: Int) { connector.waitForLayerLoad(layer) }
    func didCompute(layer: Int) { connector.saveLayer(layer, cache: cache) }
}
