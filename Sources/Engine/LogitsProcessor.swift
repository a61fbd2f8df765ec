/// The per-request logit edits applied before sampling: min_tokens masking, logit bias, and
/// repetition / frequency / presence penalties (vLLM's semantics).
enum LogitsProcessor {
    /// Whether `apply` would change anything for this request now.
    static func isNeeded(for request: Request) -> Bool {
        let p = request.samplingParams
        return p.hasPenaltiesOrBias || request.numOutputTokens < p.minTokens
    }

    static func apply(_ logits: UnsafeMutableBufferPointer<Float>, request: Request) {
        let p = request.samplingParams
        if request.numOutputTokens < p.minTokens {
            for id in p.stopTokenIds where id < logits.count { logits[id] = -.infinity }
            if !p.ignoreEOS { for id in request.eosTokenIds where id < logits.count { logits[id] = -.infinity } }
        }
        if p.repetitionPenalty != 1 {
            var seen = Set(request.promptTokenIds)
            seen.formUnion(request.outputTokenCounts.keys)
            for id in seen where id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / p.repetitionPenalty : logits[id] * p.repetitionPenalty
            }
        }
        if p.frequencyPenalty != 0 || p.presencePenalty != 0 {
            for (id, count) in request.outputTokenCounts where id < logits.count {
                logits[id] -= p.frequencyPenalty * Float(count) + p.presencePenalty
            }
        }
        for (id, bias) in p.logitBias where id < logits.count { logits[id] += bias }
    }
}
