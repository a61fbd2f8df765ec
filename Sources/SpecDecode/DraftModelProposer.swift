import GGUF
import Kernels
import Models

/// vLLM's `draft_model` method: a smaller model with the target's vocabulary proposes k tokens
/// autoregressively. It keeps its own paged KV cache: each request's computed prefix, which
/// catches up with the request's accepted tokens (the prompt, the first time) in one pass that
/// also yields the first draft, then one pass per further draft token, all requests batched.
/// Greedy requests get the draft's argmax; sampled ones a draw from the draft's softmax at the
/// request's temperature, with those probabilities returned for the rejection rule.
public final class DraftModelProposer: SpeculativeProposer {
    public let model: any CausalLM
    private let cache: KVCache
    private let maxDraftTokens: Int
    private var blocks: DraftBlockAllocator
    private var states: [String: State] = [:]
    private var batch = ForwardBatch()
    private let workspace = ForwardWorkspace()
    /// Most tokens in one catch-up pass (the engine's default step budget).
    static let chunkTokens = 512

    private struct State {
        /// Tokens whose K/V are in the draft's cache, in order.
        var tokens: [Int] = []
        /// One block table per KV cache group.
        var tables: [[Int32]]
        var rng: SplitMix
    }

    /// A loaded draft model and its file's metadata (for the engine's vocabulary check).
    public struct Loaded {
        public let model: any CausalLM
        public let metadata: GGUFMetadata
        public var config: ModelConfig { model.config }
    }

    /// Loads `config.model` on the target's thread pool.
    public static func load(config: SpeculativeConfig, pool: ThreadPool) throws(SpeculativeConfigError) -> Loaded {
        guard let path = config.model else { throw .invalid("the draft_model method needs \"model\": a GGUF path") }
        do {
            let file = try GGUFFile(path: path)
            return Loaded(model: try ModelArchitectures.load(file: file, pool: pool), metadata: file.metadata)
        } catch {
            throw .incompatibleDraft("\(path): \(error)")
        }
    }

    /// - Parameter numBlocks: blocks of `blockSize` tokens in the draft's cache, per KV cache group.
    public init(model: any CausalLM, numBlocks: Int, blockSize: Int = 16, precision: KVPrecision = .float16, maxDraftTokens: Int) {
        self.model = model
        let groups = model.kvCacheLayout.numGroups
        cache = model.makeKVCache(numBlocks: numBlocks * groups, blockSize: blockSize, precision: precision)
        self.maxDraftTokens = maxDraftTokens
        blocks = DraftBlockAllocator(numBlocks: numBlocks * groups, groups: groups)
    }

    public func propose(_ requests: [ProposalRequest]) -> [Proposal] {
        var proposals = Array(repeating: Proposal.none, count: requests.count)
        var active: [Int] = []
        for (i, r) in requests.enumerated() {
            let k = min(r.maxDraftTokens, maxDraftTokens)
            guard k > 0, prepare(r, extra: k) else { continue }
            active.append(i)
        }
        guard !active.isEmpty else { return proposals }
        // Catch-up passes; the last one of each request gives its first draft.
        var pending = active
        var logitsOf: [Int: Int] = [:]
        while !pending.isEmpty {
            var budget = Self.chunkTokens, next: [Int] = []
            startBatch(active.map { requests[$0].requestId })
            logitsOf.removeAll(keepingCapacity: true)
            for i in pending {
                let r = requests[i]
                var state = states[r.requestId]!
                let take = min(r.tokenIds.count - state.tokens.count, max(1, budget))
                let seq = Int32(active.firstIndex(of: i)!)
                for p in state.tokens.count..<(state.tokens.count + take) {
                    let last = p == r.tokenIds.count - 1
                    if last { logitsOf[i] = batch.logitIndices.count }
                    batch.addToken(Int32(r.tokenIds[p]), position: Int32(p), sequence: seq, wantsLogits: last)
                }
                state.tokens += r.tokenIds[state.tokens.count..<(state.tokens.count + take)]
                states[r.requestId] = state
                budget -= take
                if state.tokens.count < r.tokenIds.count { next.append(i) }
            }
            let logits = model.forward(batch, cache: cache, workspace: workspace)
            for (i, row) in logitsOf { proposals[i].append(draw(row: row, of: logits, request: requests[i])) }
            pending = next
        }
        // One pass per further draft token.
        var drafting = active.filter { requests[$0].maxDraftTokens > 1 && maxDraftTokens > 1 }
        while !drafting.isEmpty {
            startBatch(active.map { requests[$0].requestId })
            for i in drafting {
                let r = requests[i], token = proposals[i].tokenIds.last!
                let position = r.tokenIds.count + proposals[i].tokenIds.count - 1
                states[r.requestId]!.tokens.append(token)
                batch.addToken(Int32(token), position: Int32(position), sequence: Int32(active.firstIndex(of: i)!), wantsLogits: true)
            }
            let logits = model.forward(batch, cache: cache, workspace: workspace)
            for (row, i) in drafting.enumerated() { proposals[i].append(draw(row: row, of: logits, request: requests[i])) }
            drafting = drafting.filter { proposals[$0].tokenIds.count < min(requests[$0].maxDraftTokens, maxDraftTokens) }
        }
        return proposals
    }

    public func requestFinished(_ requestId: String, tokenIds: [Int], numPromptTokens: Int) {
        guard let state = states.removeValue(forKey: requestId) else { return }
        blocks.release(state.tables)
    }

    /// Rolls the request's draft cache back to its longest prefix agreeing with the request's
    /// tokens (rejected drafts go) and reserves blocks for the catch-up and `extra` drafts.
    /// Without enough free blocks the request gets no draft this time (and its blocks go).
    private func prepare(_ r: ProposalRequest, extra: Int) -> Bool {
        var state = states[r.requestId] ?? State(tables: Array(repeating: [], count: cache.layout.numGroups),
                                                 rng: SplitMix(seed: SplitMix.seed(r.requestId)))
        var keep = min(state.tokens.count, r.tokenIds.count - 1)
        if let mismatch = (0..<keep).first(where: { state.tokens[$0] != r.tokenIds[$0] }) { keep = mismatch }
        state.tokens.removeSubrange(keep...)
        let needed = (r.tokenIds.count + extra - 1 + cache.blockSize - 1) / cache.blockSize
        guard blocks.reserve(&state.tables, blocks: needed) else {
            states[r.requestId] = state
            requestFinished(r.requestId, tokenIds: r.tokenIds, numPromptTokens: r.numPromptTokens)
            return false
        }
        states[r.requestId] = state
        return true
    }

    private func startBatch(_ ids: [String]) {
        let stride = ids.map { states[$0]!.tables[0].count }.max() ?? 0
        batch.removeAll(blockTableStride: stride, groups: cache.layout.numGroups)
        for id in ids { _ = batch.addSequence(blockTables: states[id]!.tables) }
    }

    /// The draft token from logits row `row`, with its distribution when the request samples.
    private func draw(row: Int, of logits: UnsafeBufferPointer<Float>, request: ProposalRequest) -> (Int, [Float]?) {
        let v = model.config.vocabSize
        return DraftSampling.draw(UnsafeBufferPointer(rebasing: logits[(row * v)..<((row + 1) * v)]), temperature: request.temperature,
                                  rng: &states[request.requestId]!.rng)
    }
}
