/// The per-request logit edits applied before sampling: min_tokens masking, logit bias, and
/// repetition / frequency / presence penalties (vLLM's semantics).
///
/// `pending` are tokens not yet appended to the request that precede this row: the drafts
/// accepted so far when speculative decoding verifies a run, so each position sees the state it
/// would have had one token at a time.
enum LogitsProcessor {
    /// Whether `apply` would change anything for this request now.
    static func isNeeded(for request: Request, pending: Int = 0) -> Bool {
        let p = request.samplingParams
        return p.hasPenaltiesOrBias || request.numOutputTokens + pending < p.minTokens
    }

    static func apply(_ logits: UnsafeMutableBufferPointer<Float>, request: Request, pending: ArraySlice<Int> = []) {
        let p = request.samplingParams
        if request.numOutputTokens + pending.count < p.minTokens {
            for id in p.stopTokenIds where id < logits.count { logits[id] = -.infinity }
            if !p.ignoreEOS { for id in request.eosTokenIds where id < logits.count { logits[id] = -.infinity } }
        }
        var counts = request.outputTokenCounts
        if !pending.isEmpty && (p.repetitionPenalty != 1 || p.frequencyPenalty != 0 || p.presencePenalty != 0) {
            for id in pending { counts[id, default: 0] += 1 }
        }
        if p.repetitionPenalty != 1 {
            var seen = Set(request.promptTokenIds)
            seen.formUnion(counts.keys)
            for id in seen where id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / p.repetitionPenalty : logits[id] * p.repetitionPenalty
            }
        }
        if p.frequencyPenalty != 0 || p.presencePenalty != 0 {
            for (id, count) in counts where id < logits.count {
                logits[id] -= p.frequencyPenalty * Float(count) + p.presencePenalty
            }
        }
        for (id, bias) in p.logitBias where id < logits.count { logits[id] += bias }
    }
}
