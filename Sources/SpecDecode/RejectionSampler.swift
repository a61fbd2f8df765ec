/// The lossless acceptance rule of speculative sampling (Leviathan et al., Chen et al.; vLLM's
/// `RejectionSampler`): a draft token d drawn from q is kept with probability min(1, p(d)/q(d));
/// at the first rejection a token is drawn from max(0, p − q), renormalised. The tokens that come
/// out are distributed exactly as tokens drawn from the target's p one at a time. A proposal
/// without draft probabilities is a point mass: q(d) = 1.
public enum RejectionSampler {
    /// The leading draft tokens greedy decoding would have produced (`targetToken(j)` is the
    /// target's choice after the first j drafts), followed by the target's own next token: the
    /// longest agreeing prefix plus the correction, or the bonus token when every draft agrees.
    public static func verifyGreedy(draft: some Collection<Int>, targetToken: (Int) -> Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(draft.count + 1)
        for d in draft {
            let t = targetToken(out.count)
            out.append(t)
            if t != d { return out }
        }
        out.append(targetToken(out.count))
        return out
    }

    /// Whether draft token `d` survives, given the target's probabilities `p`, the draft's `q`
    /// (nil: a point mass at `d`) and a uniform draw `u` in [0, 1).
    public static func accepts(_ d: Int, target p: UnsafeBufferPointer<Float>, draft q: [Float]?, uniform u: Float) -> Bool {
        let qd = q.map { $0[d] } ?? 1
        // A draft that could not have drawn d keeps nothing from q; a token the target rules out
        // (a grammar mask, a -inf bias) is never kept.
        guard qd > 0 else { return p[d] > 0 }
        return u * qd < p[d]
    }

    /// The token drawn after `d` was rejected: from max(0, p − q), renormalised (with a point
    /// mass q, that is p without `d`). Falls back to p itself if the residual has no mass.
    public static func recover(target p: UnsafeBufferPointer<Float>, draft q: [Float]?, rejected d: Int, uniform u: Float) -> Int {
        var total: Float = 0
        for i in 0..<p.count { total += residual(p, q, d, i) }
        guard total > 0 else { return draw(p, uniform: u) }
        var r = u * total
        var last = d
        for i in 0..<p.count {
            let w = residual(p, q, d, i)
            guard w > 0 else { continue }
            last = i
            r -= w
            if r < 0 { return i }
        }
        return last
    }

    /// A token drawn from the (not necessarily normalised) weights `p`.
    public static func draw(_ p: UnsafeBufferPointer<Float>, uniform u: Float) -> Int {
        var total: Float = 0
        for w in p { total += w }
        var r = u * total
        var last = 0
        for (i, w) in p.enumerated() where w > 0 {
            last = i
            r -= w
            if r < 0 { return i }
        }
        return last
    }

    @inline(__always)
    private static func residual(_ p: UnsafeBufferPointer<Float>, _ q: [Float]?, _ d: Int, _ i: Int) -> Float {
        if let q { return max(0, p[i] - q[i]) }
        return i == d ? 0 : p[i]
    }
}
