import Models

/// Turns a ``SchedulerOutput`` into one flat batch, runs the model over the paged KV cache and
/// samples a token for every request whose scheduled chunk reached its last known token.
public final class ModelRunner {
    public let model: any CausalLM
    public let kvCache: KVCache
    private var batch = ForwardBatch()
    private let workspace = ForwardWorkspace()
    private var sampler = Sampler()
    private var processed: [Float]
    private var rows: [(sample: Int?, promptStart: Int, promptRows: Range<Int>)] = []

    public init(model: any CausalLM, kvCache: KVCache) {
        self.model = model
        self.kvCache = kvCache
        processed = [Float](repeating: 0, count: model.config.vocabSize)
    }

    public func execute(_ output: SchedulerOutput) -> [String: SampledToken] {
        guard !output.isEmpty else { return [:] }
        buildBatch(output)
        let logits = model.forward(batch, cache: kvCache, workspace: workspace)
        let vocab = model.config.vocabSize
        func row(_ r: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: logits[(r * vocab)..<((r + 1) * vocab)]) }

        var results: [String: SampledToken] = [:]
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
            guard let r = rowInfo.sample else {
                if promptLogprobs != nil { results[request.requestId] = SampledToken(tokenId: -1, promptLogprobs: promptLogprobs) }
                continue
            }
            let raw = row(r)
            let token = sample(raw, for: request)
            let logprobs = request.samplingParams.logprobs.map { Logprobs.compute(raw, token: token, topN: $0) }
            results[request.requestId] = SampledToken(tokenId: token, logprobs: logprobs, promptLogprobs: promptLogprobs)
        }
        return results
    }

    private func sample(_ raw: UnsafeBufferPointer<Float>, for request: Request) -> Int {
        let params = request.samplingParams
        guard LogitsProcessor.isNeeded(for: request) else { return sampler.sample(raw, params: params, rng: &request.rng) }
        return processed.withUnsafeMutableBufferPointer { buffer in
            _ = buffer.initialize(from: raw)
            LogitsProcessor.apply(buffer, request: request)
            return sampler.sample(UnsafeBufferPointer(buffer), params: params, rng: &request.rng)
        }
    }

    private func buildBatch(_ output: SchedulerOutput) {
        var stride = 0
        for item in output.scheduled { for table in item.request.blockIds { stride = max(stride, table.count) } }
        batch.removeAll(blockTableStride: stride, groups: kvCache.layout.numGroups)
        rows.removeAll(keepingCapacity: true)
        var nextRow = 0
        for item in output.scheduled {
            let request = item.request
            let seq = batch.addSequence(blockTables: request.blockIds)
            let end = item.startPosition + item.numTokens
            let wantsPrompt = request.samplingParams.promptLogprobs != nil
            let promptEnd = min(end, request.numPromptTokens - 1)
            let promptRows = wantsPrompt && promptEnd > item.startPosition ? nextRow..<(nextRow + promptEnd - item.startPosition) : nextRow..<nextRow
            var sampleRow: Int?
            for p in item.startPosition..<end {
                let isPromptRow = wantsPrompt && p < promptEnd
                let isSampleRow = item.samplesToken && p == end - 1
                if isSampleRow { sampleRow = nextRow }
                batch.addToken(Int32(request.allTokenIds[p]), position: Int32(p), sequence: seq,
                               wantsLogits: isPromptRow || isSampleRow)
                if isPromptRow || isSampleRow { nextRow += 1 }
            }
            rows.append((sample: sampleRow, promptStart: item.startPosition, promptRows: promptRows))
        }
    }
}
