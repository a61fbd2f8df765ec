#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// Log-probabilities of the raw model distribution (before temperature and penalties, as vLLM
/// returns them by default).
enum Logprobs {
    /// log softmax(row)[token], its rank, and the `topN` most likely tokens.
    static func compute(_ row: UnsafeBufferPointer<Float>, token: Int, topN: Int) -> TokenLogprobs {
        let m = maximum(row.baseAddress!, row.count)
        let logZ = m + logf(sumOfExponentials(row.baseAddress!, row.count, shift: m))
        let chosen = row[token]
        var rank = 1
        for v in row where v > chosen { rank += 1 }
        var top: [(tokenId: Int, logprob: Float)] = []
        if topN > 0 {
            var best: [(Int, Float)] = []
            best.reserveCapacity(topN + 1)
            for (i, v) in row.enumerated() where best.count < topN || v > best[best.count - 1].1 {
                let at = best.firstIndex { v > $0.1 } ?? best.count
                best.insert((i, v), at: at)
                if best.count > topN { best.removeLast() }
            }
            top = best.map { (tokenId: $0.0, logprob: $0.1 - logZ) }
        }
        return TokenLogprobs(tokenId: token, logprob: chosen - logZ, rank: rank, top: top)
    }
}
