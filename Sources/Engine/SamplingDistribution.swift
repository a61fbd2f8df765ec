#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

extension Sampler {
    /// Writes into `out` the distribution ``sample(_:params:rng:)`` draws from (temperature,
    /// then top-k, top-p over the whole distribution's mass, and min-p, as there), normalised,
    /// with zeros for the tokens it cuts. Speculative sampling needs the probabilities
    /// themselves, not one draw. Not for greedy parameters.
    mutating func distribution(_ logits: UnsafeBufferPointer<Float>, params: SamplingParams, into out: UnsafeMutableBufferPointer<Float>) {
        let n = logits.count
        let invT = 1 / params.temperature
        let maxLogit = maximum(logits.baseAddress!, n)
        let total = exponentials(logits.baseAddress!, n, shift: maxLogit, scale: invT, into: out.baseAddress!)
        let topK = params.topK > 0 && params.topK < n
        guard topK || params.topP < 1 || params.minP > 0 else {
            scale(out, by: 1 / total)
            return
        }
        selectTop(topK ? params.topK : n, of: logits)
        var keep = candidates.count
        if params.topP < 1 {
            var cumulative: Float = 0
            for (i, c) in candidates.enumerated() {
                cumulative += out[c.id]
                if cumulative >= params.topP * total { keep = i + 1; break }
            }
        }
        if params.minP > 0 {
            let floor = params.minP * out[candidates[0].id]
            keep = min(keep, max(1, candidates.prefix(keep).firstIndex { out[$0.id] < floor } ?? keep))
        }
        var kept: Float = 0
        for c in candidates.prefix(keep) { kept += out[c.id] }
        let weights = candidates.prefix(keep).map { out[$0.id] / kept }
        for i in 0..<n { out[i] = 0 }
        for (c, w) in zip(candidates.prefix(keep), weights) { out[c.id] = w }
    }

    private func scale(_ v: UnsafeMutableBufferPointer<Float>, by s: Float) {
        for i in v.indices { v[i] *= s }
    }
}
