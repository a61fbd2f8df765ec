import Foundation
import Kernels
import Models
import SpecDecode
import Tokenization

/// Speculative decoding in the engine loop (vLLM V1's design): after each step the proposer
/// drafts tokens for the requests that are decoding; the scheduler runs them with the next
/// token in one pass and the runner keeps what the rejection rule accepts. Each request's draft
/// length follows its acceptance, and a draft token is only proposed while its chance of
/// counting beats what it costs at the current batch size.
final class Speculator {
    let config: SpeculativeConfig
    let proposer: any SpeculativeProposer
    private(set) var cost = StepCostModel()
    private var inputs: [ProposalRequest] = []
    private var targets: [Request] = []

    init(config: SpeculativeConfig, proposer: any SpeculativeProposer) {
        self.config = config
        self.proposer = proposer
    }

    /// Builds the proposer `config` names for `model`.
    static func make(_ config: SpeculativeConfig, model: any CausalLM, tokenizer: Tokenizer, kvCacheTokens: Int,
                     blockSize: Int, precision: KVPrecision) throws(SpeculativeConfigError) -> Speculator {
        let proposer: any SpeculativeProposer
        switch config.method {
        case .ngram: proposer = NgramProposer(config: config)
        case .suffix: proposer = SuffixProposer(config: config)
        case .draftModel:
            let draft = try DraftModelProposer.load(config: config, pool: model.pool)
            guard draft.config.vocabSize == model.config.vocabSize else {
                throw .incompatibleDraft("its vocabulary has \(draft.config.vocabSize) tokens, the target's \(model.config.vocabSize)")
            }
            let draftTokenizer: Tokenizer
            do { draftTokenizer = try Tokenizer(metadata: draft.metadata) } catch { throw .incompatibleDraft("\(error)") }
            guard draftTokenizer.vocabulary.tokens == tokenizer.vocabulary.tokens else {
                throw .incompatibleDraft("its vocabulary's tokens differ from the target's")
            }
            proposer = DraftModelProposer(model: draft.model, numBlocks: max(1, kvCacheTokens / blockSize), blockSize: blockSize,
                                          precision: precision, maxDraftTokens: config.numSpeculativeTokens)
        case .mtp:
            guard let predictor = model.nextTokenPredictor else { throw .noMTPLayers(model.config.architecture) }
            proposer = MTPProposer(predictor: predictor, numBlocks: max(1, kvCacheTokens / blockSize), blockSize: blockSize,
                                   precision: precision, maxDraftTokens: config.numSpeculativeTokens)
        }
        return Speculator(config: config, proposer: proposer)
    }

    /// Times a step for the cost model, if it only decoded (each request one known token and its drafts).
    func recordStep(_ output: SchedulerOutput, seconds: Double) {
        guard output.scheduled.allSatisfy({ $0.numTokens == 1 + $0.numSpecTokens }) else { return }
        cost.record(sequences: output.scheduled.count, tokens: output.totalNumScheduledTokens, seconds: seconds)
    }

    /// Hands an MTP proposer the hidden states of the positions the step computed and kept.
    func observe(_ output: SchedulerOutput, runner: ModelRunner) {
        guard let observer = proposer as? HiddenStateObserver else { return }
        let hidden = runner.lastHiddenStates, d = runner.model.config.hiddenSize
        guard let base = hidden.baseAddress else { return }
        for (item, offset) in zip(output.scheduled, runner.tokenOffsets) where !item.request.isFinished {
            let request = item.request
            let end = min(request.numComputedTokens, item.startPosition + item.numTokens)
            guard end > item.startPosition else { continue }
            observer.observe(requestId: request.requestId, positions: item.startPosition..<end, tokenIds: request.allTokenIds,
                             hidden: base + offset * d)
        }
    }

    /// Drafts for the running requests that are decoding (their computed tokens reach their last one).
    func propose(_ running: [Request]) {
        inputs.removeAll(keepingCapacity: true)
        targets.removeAll(keepingCapacity: true)
        let breakEven = config.adaptive ? cost.breakEven(batch: running.count) : 0
        for request in running where request.numComputedTokens == request.numTokens - 1 {
            let room = min(request.maxTokens - request.numOutputTokens, request.maxModelLength - request.numTokens) - 1
            let most = min(config.numSpeculativeTokens, room)
            guard most > 0 else { continue }
            let k = config.adaptive ? request.draftAcceptance.length(maxTokens: most, breakEven: breakEven) : most
            guard k > 0 else { continue }
            inputs.append(ProposalRequest(requestId: request.requestId, tokenIds: request.allTokenIds,
                                          numPromptTokens: request.numPromptTokens, maxDraftTokens: k,
                                          temperature: request.samplingParams.isGreedy ? 0 : request.samplingParams.temperature))
            targets.append(request)
        }
        guard !inputs.isEmpty else { return }
        for (i, proposal) in proposer.propose(inputs).enumerated() where !proposal.tokenIds.isEmpty {
            let k = min(proposal.tokenIds.count, inputs[i].maxDraftTokens)
            targets[i].setDrafts(Array(proposal.tokenIds.prefix(k)), probabilities: proposal.probabilities.map { Array($0.prefix(k)) })
        }
    }

    func finished(_ request: Request) {
        proposer.requestFinished(request.requestId, tokenIds: request.allTokenIds, numPromptTokens: request.numPromptTokens)
    }
}
