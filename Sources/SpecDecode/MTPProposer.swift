import Kernels
import Models

/// vLLM's `mtp` method with FastMTP's recursion: the target's own next-token-prediction layer
/// drafts. Position i of the layer reads the target's hidden state at i and the token after it,
/// and predicts the token after that; it keeps its own one-layer paged KV cache. Each step it
/// first catches up over the positions the target computed since (their hidden states come
/// through ``observe(requestId:positions:tokenIds:hidden:)``), which yields the first draft; each
/// further draft feeds the layer's own output hidden state back in with the draft before it
/// (shared weights). Drafts are lossless whatever their quality, so a request whose hidden
/// states have a gap (a prefix-cache hit skipped positions) simply gets no drafts.
public final class MTPProposer: SpeculativeProposer, HiddenStateObserver {
    public let predictor: NextTokenPredictor
    private let cache: KVCache
    private let maxDraftTokens: Int
    private var blocks: DraftBlockAllocator
    private var states: [String: State] = [:]
    private var batch = ForwardBatch()
    private let workspace = ForwardWorkspace()
    private var inputs: [Float] = []
    private var next: [Float] = []

    private struct State {
        /// Positions whose K/V the layer holds (from the target's hidden states; drafts' own
        /// positions beyond are rewritten when the target reaches them).
        var computed = 0
        /// Hidden rows observed for positions `computed ..< computed + pending.count / d`.
        var pending: [Float] = []
        /// A gap in the observed positions: no drafts until the request starts over.
        var broken = false
        var tables: [[Int32]] = [[]]
        var rng: SplitMix
    }

    /// - Parameter numBlocks: blocks of `blockSize` tokens in the layer's cache.
    public init(predictor: NextTokenPredictor, numBlocks: Int, blockSize: Int = 16, precision: KVPrecision = .float16,
                maxDraftTokens: Int) {
        self.predictor = predictor
        cache = predictor.makeKVCache(numBlocks: numBlocks, blockSize: blockSize, precision: precision)
        blocks = DraftBlockAllocator(numBlocks: numBlocks, groups: 1)
        self.maxDraftTokens = maxDraftTokens
    }

    private var d: Int { predictor.config.hiddenSize }

    public func observe(requestId: String, positions: Range<Int>, tokenIds: [Int], hidden: UnsafePointer<Float>) {
        guard !positions.isEmpty else { return }
        var state = states[requestId] ?? State(rng: SplitMix(seed: SplitMix.seed(requestId)))
        defer { states[requestId] = state }
        if positions.lowerBound == 0 {
            state.computed = 0
            state.pending.removeAll()
            state.broken = false
        }
        guard !state.broken else { return }
        let known = state.computed + state.pending.count / d
        if positions.lowerBound > known {
            state.broken = true
            state.pending.removeAll()
            return
        }
        if positions.lowerBound < known {
            // Recomputed positions (after a preemption): the layer's K/V from there on is redone.
            state.pending.removeSubrange((max(0, positions.lowerBound - state.computed) * d)...)
            state.computed = min(state.computed, positions.lowerBound)
        }
        state.pending.append(contentsOf: UnsafeBufferPointer(start: hidden, count: positions.count * d))
    }

    public func propose(_ requests: [ProposalRequest]) -> [Proposal] {
        var proposals = Array(repeating: Proposal.none, count: requests.count)
        var active: [Int] = []
        for (i, r) in requests.enumerated() {
            let k = min(r.maxDraftTokens, maxDraftTokens)
            guard k > 0, var state = states[r.requestId], !state.broken,
                  state.computed + state.pending.count / d == r.tokenIds.count - 1, !state.pending.isEmpty else { continue }
            guard blocks.reserve(&state.tables, blocks: (r.tokenIds.count + k + cache.blockSize - 1) / cache.blockSize) else { continue }
            states[r.requestId] = state
            active.append(i)
        }
        guard !active.isEmpty else { return proposals }
        // Catch-up over the observed positions, in passes of at most 512 rows; each request's
        // last row gives its first draft and the hidden state for the next.
        var carried: [Int: [Float]] = [:]
        var remaining = active
        while !remaining.isEmpty {
            var budget = 512, later: [Int] = []
            start(active.map { requests[$0].requestId })
            inputs.removeAll(keepingCapacity: true)
            var lastRow: [Int: Int] = [:]
            for i in remaining {
                let r = requests[i]
                var state = states[r.requestId]!
                let take = min(state.pending.count / d, max(1, budget))
                for p in state.computed..<(state.computed + take) {
                    let last = p == r.tokenIds.count - 2
                    if last { lastRow[i] = batch.count }
                    batch.addToken(Int32(r.tokenIds[p + 1]), position: Int32(p), sequence: Int32(active.firstIndex(of: i)!), wantsLogits: last)
                }
                inputs += state.pending[..<(take * d)]
                state.pending.removeSubrange(..<(take * d))
                state.computed += take
                states[r.requestId] = state
                budget -= take
                if !state.pending.isEmpty { later.append(i) }
            }
            let out = inputs.withUnsafeBufferPointer { predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: workspace) }
            for (i, row) in lastRow {
                let logitRow = batch.logitIndices.firstIndex(of: Int32(row))!
                proposals[i].append(draw(logitRow, of: out.logits, request: requests[i]))
                carried[i] = Array(out.hidden[(row * d)..<((row + 1) * d)])
            }
            remaining = later
        }
        // Recursion: the layer's own hidden state and the last draft at the next position.
        var drafting = active.filter { proposals[$0].tokenIds.count < min(requests[$0].maxDraftTokens, maxDraftTokens) }
        while !drafting.isEmpty {
            start(active.map { requests[$0].requestId })
            inputs.removeAll(keepingCapacity: true)
            for i in drafting {
                let r = requests[i]
                let position = r.tokenIds.count - 2 + proposals[i].tokenIds.count
                batch.addToken(Int32(proposals[i].tokenIds.last!), position: Int32(position), sequence: Int32(active.firstIndex(of: i)!),
                               wantsLogits: true)
                inputs += carried[i]!
            }
            let out = inputs.withUnsafeBufferPointer { predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: workspace) }
            for (row, i) in drafting.enumerated() {
                proposals[i].append(draw(row, of: out.logits, request: requests[i]))
                carried[i] = Array(out.hidden[(row * d)..<((row + 1) * d)])
            }
            drafting = drafting.filter { proposals[$0].tokenIds.count < min(requests[$0].maxDraftTokens, maxDraftTokens) }
        }
        return proposals
    }

    public func requestFinished(_ requestId: String, tokenIds: [Int], numPromptTokens: Int) {
        guard let state = states.removeValue(forKey: requestId) else { return }
        blocks.release(state.tables)
    }

    private func start(_ ids: [String]) {
        let stride = ids.map { states[$0]!.tables[0].count }.max() ?? 0
        batch.removeAll(blockTableStride: stride, groups: 1)
        for id in ids { _ = batch.addSequence(blockTables: states[id]!.tables) }
    }

    private func draw(_ row: Int, of logits: UnsafeBufferPointer<Float>, request: ProposalRequest) -> (Int, [Float]?) {
        let v = predictor.config.vocabSize
        return DraftSampling.draw(UnsafeBufferPointer(rebasing: logits[(row * v)..<((row + 1) * v)]), temperature: request.temperature,
                                  rng: &states[request.requestId]!.rng)
    }
}
