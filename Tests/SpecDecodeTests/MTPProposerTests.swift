import Foundation
import GGUF
import Kernels
import Models
import Testing
import TestSupport
@testable import SpecDecode

/// The MTP proposer drafts exactly what the nextn layer gives when run by hand: position i reads
/// the target's hidden state at i and token i+1; the first draft comes from the last known
/// position, each further one from the layer's own output and the draft before it. Hidden states
/// observed in several chunks give the same drafts as in one.
@Suite struct MTPProposerTests {
    static let pool = ThreadPool(threadCount: 2)
    static let model = try! ModelArchitectures.load(
        file: GGUFFile(bytes: TinyModel(architecture: "qwen2", contextLength: 512, seed: 41).withNextN(1).write()), pool: pool)

    /// The target's hidden states for every position of `tokens` (one sequence, one pass).
    static func targetHidden(_ tokens: [Int]) -> [Float] {
        let cache = model.makeKVCache(numBlocks: 64, blockSize: 4)
        var batch = ForwardBatch()
        batch.removeAll(blockTableStride: 16, groups: 1)
        _ = batch.addSequence(blockTable: (0..<16).map(Int32.init))
        for (p, t) in tokens.enumerated() { batch.addToken(Int32(t), position: Int32(p), sequence: 0, wantsLogits: p == tokens.count - 1) }
        let workspace = ForwardWorkspace()
        _ = model.forward(batch, cache: cache, workspace: workspace)
        return Array(workspace.lastHiddenStates)
    }

    /// The drafts by hand: the layer over positions 0…n−2, then recursively.
    static func expectedDrafts(_ tokens: [Int], hidden: [Float], count: Int) -> [Int] {
        let predictor = model.nextTokenPredictor!, d = model.config.hiddenSize, v = model.config.vocabSize
        let cache = predictor.makeKVCache(numBlocks: 64, blockSize: 4)
        let workspace = ForwardWorkspace()
        var batch = ForwardBatch()
        func reset() {
            batch.removeAll(blockTableStride: 16, groups: 1)
            _ = batch.addSequence(blockTable: (0..<16).map(Int32.init))
        }
        reset()
        let n = tokens.count
        for p in 0..<(n - 1) { batch.addToken(Int32(tokens[p + 1]), position: Int32(p), sequence: 0, wantsLogits: p == n - 2) }
        var out = hidden.withUnsafeBufferPointer { predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: workspace) }
        var drafts = [argmax(out.logits, v)]
        var carried = Array(out.hidden[((n - 2) * d)..<((n - 1) * d)])
        while drafts.count < count {
            reset()
            batch.addToken(Int32(drafts.last!), position: Int32(n - 2 + drafts.count), sequence: 0, wantsLogits: true)
            out = carried.withUnsafeBufferPointer { predictor.forward(batch, hidden: $0.baseAddress!, cache: cache, workspace: workspace) }
            drafts.append(argmax(out.logits, v))
            carried = Array(out.hidden)
        }
        return drafts
    }

    static func argmax(_ x: UnsafeBufferPointer<Float>, _ v: Int) -> Int {
        let row = x.prefix(v)
        return row.firstIndex(of: row.max()!)!
    }

    @Test(arguments: [[11], [4, 3, 4], [2, 9]])
    func draftsEqualTheLayerRunByHand(chunks: [Int]) throws {
        let tokens = (0..<chunks.reduce(0, +)).map { ($0 * 7 + 3) % 60 } + [5]
        let hidden = Self.targetHidden(tokens)
        let d = Self.model.config.hiddenSize
        let proposer = MTPProposer(predictor: Self.model.nextTokenPredictor!, numBlocks: 64, blockSize: 4, maxDraftTokens: 4)
        // Positions 0…n−2 observed in chunks, as a chunked prefill and its decode steps give them.
        var start = 0
        for c in chunks {
            hidden.withUnsafeBufferPointer { proposer.observe(requestId: "r", positions: start..<(start + c), tokenIds: tokens, hidden: $0.baseAddress! + start * d) }
            start += c
        }
        #expect(start == tokens.count - 1)
        let proposal = proposer.propose([ProposalRequest(requestId: "r", tokenIds: tokens, numPromptTokens: tokens.count, maxDraftTokens: 4)])[0]
        #expect(proposal.tokenIds == Self.expectedDrafts(tokens, hidden: hidden, count: 4))
        #expect(proposal.probabilities == nil)
    }

    /// A gap in the observed positions (a prefix-cache hit) turns drafting off until the request
    /// starts over from position 0; finishing frees the request's state.
    @Test func gapsStopDraftingAndRestartsResumeIt() throws {
        let tokens = (0..<9).map { ($0 * 5 + 1) % 60 }
        let hidden = Self.targetHidden(tokens)
        let d = Self.model.config.hiddenSize
        let proposer = MTPProposer(predictor: Self.model.nextTokenPredictor!, numBlocks: 64, blockSize: 4, maxDraftTokens: 2)
        let request = ProposalRequest(requestId: "g", tokenIds: tokens, numPromptTokens: tokens.count, maxDraftTokens: 2)
        hidden.withUnsafeBufferPointer { proposer.observe(requestId: "g", positions: 4..<8, tokenIds: tokens, hidden: $0.baseAddress! + 4 * d) }
        #expect(proposer.propose([request])[0].tokenIds.isEmpty)
        hidden.withUnsafeBufferPointer { proposer.observe(requestId: "g", positions: 0..<8, tokenIds: tokens, hidden: $0.baseAddress!) }
        #expect(proposer.propose([request])[0].tokenIds == Self.expectedDrafts(tokens, hidden: hidden, count: 2))
        proposer.requestFinished("g", tokenIds: tokens, numPromptTokens: tokens.count)
        #expect(proposer.propose([request])[0].tokenIds.isEmpty)
    }
}
