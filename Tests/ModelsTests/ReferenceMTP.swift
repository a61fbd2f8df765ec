import Foundation
import GGUF
import Kernels
import Models

/// DeepSeek-V3's multi-token-prediction block in plain Swift, over one sequence at positions
/// 0..<n, on dequantized copies of a file's `blk.L.` tensors (float throughout): the reference
/// ``NextTokenPredictor`` is checked against. Dense Llama-family blocks only.
struct ReferenceMTP {
    struct Output {
        var logits: [Float]
        var hidden: [Float]
    }

    let c: ModelConfig
    let embedding, projection, wq, wk, wv, wo, gate, up, down, head: [Float]
    let enorm, hnorm, attentionNorm, ffnNorm, headNorm: [Float]
    let qBias, kBias, vBias, qNorm, kNorm: [Float]?

    init(file: GGUFFile, config: ModelConfig, layer l: Int, tied: Bool) throws {
        func tensor(_ name: String) throws -> [Float] { try NextTokenPredictorTests.matrix(file, name) }
        func optional(_ name: String) throws -> [Float]? { file.tensorInfo(name) == nil ? nil : try tensor(name) }
        let p = "blk.\(l).", n = p + "nextn."
        c = config
        embedding = try optional(n + "embed_tokens.weight") ?? tensor("token_embd.weight")
        head = try optional(n + "shared_head_head.weight") ?? tensor(tied ? "token_embd.weight" : "output.weight")
        headNorm = try optional(n + "shared_head_norm.weight") ?? tensor("output_norm.weight")
        enorm = try tensor(n + "enorm.weight")
        hnorm = try tensor(n + "hnorm.weight")
        projection = try tensor(n + "eh_proj.weight")
        attentionNorm = try tensor(p + "attn_norm.weight")
        wq = try tensor(p + "attn_q.weight")
        wk = try tensor(p + "attn_k.weight")
        wv = try tensor(p + "attn_v.weight")
        wo = try tensor(p + "attn_output.weight")
        qBias = try optional(p + "attn_q.bias")
        kBias = try optional(p + "attn_k.bias")
        vBias = try optional(p + "attn_v.bias")
        qNorm = try optional(p + "attn_q_norm.weight")
        kNorm = try optional(p + "attn_k_norm.weight")
        ffnNorm = try tensor(p + "ffn_norm.weight")
        gate = try tensor(p + "ffn_gate.weight")
        up = try tensor(p + "ffn_up.weight")
        down = try tensor(p + "ffn_down.weight")
    }

    func rmsNorm(_ x: [Float], _ w: [Float]) -> [Float] {
        let mean = x.reduce(0) { $0 + Double($1) * Double($1) } / Double(x.count)
        let inv = Float(1 / (mean + Double(c.rmsNormEps)).squareRoot())
        return zip(x, w).map { $0 * inv * $1 }
    }

    /// `w` (`rows × x.count`) · x.
    func apply(_ w: [Float], _ x: [Float], bias: [Float]? = nil) -> [Float] {
        let k = x.count, rows = w.count / k
        return (0..<rows).map { r in
            var sum: Float = 0
            for j in 0..<k { sum += w[r * k + j] * x[j] }
            return sum + (bias?[r] ?? 0)
        }
    }

    func rope(_ x: inout [Float], heads: Int, position: Int) {
        let d = c.headDim, rd = c.ropeDimensions, half = rd / 2
        for h in 0..<heads {
            for i in 0..<half {
                let theta = Double(position) * pow(Double(c.ropeBase), -2 * Double(i) / Double(rd))
                let (a, b) = c.ropeLayout == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                let x0 = Double(x[h * d + a]), x1 = Double(x[h * d + b])
                x[h * d + a] = Float(x0 * cos(theta) - x1 * sin(theta))
                x[h * d + b] = Float(x0 * sin(theta) + x1 * cos(theta))
            }
        }
    }

    /// `tokens[i]` follows position i, whose hidden state is row i of `hidden`.
    func forward(tokens: [Int], hidden: [Float]) -> Output {
        let d = c.hiddenSize, hd = c.headDim, n = tokens.count
        var x = (0..<n).map { i in
            let e = rmsNorm(Array(embedding[(tokens[i] * d)..<((tokens[i] + 1) * d)]), enorm)
            let h = rmsNorm(Array(hidden[(i * d)..<((i + 1) * d)]), hnorm)
            return apply(projection, e + h)
        }
        var keys: [[Float]] = [], values: [[Float]] = []
        for i in 0..<n {
            let a = rmsNorm(x[i], attentionNorm)
            var q = apply(wq, a, bias: qBias), k = apply(wk, a, bias: kBias)
            let v = apply(wv, a, bias: vBias)
            if let qNorm, let kNorm {
                for h in 0..<c.numHeads { q.replaceSubrange((h * hd)..<((h + 1) * hd), with: rmsNorm(Array(q[(h * hd)..<((h + 1) * hd)]), qNorm)) }
                for h in 0..<c.numKVHeads { k.replaceSubrange((h * hd)..<((h + 1) * hd), with: rmsNorm(Array(k[(h * hd)..<((h + 1) * hd)]), kNorm)) }
            }
            rope(&q, heads: c.numHeads, position: i)
            rope(&k, heads: c.numKVHeads, position: i)
            keys.append(k)
            values.append(v)
            var attention = [Float](repeating: 0, count: c.qDim)
            for h in 0..<c.numHeads {
                let g = h / (c.numHeads / c.numKVHeads)
                let scores = (0...i).map { j in
                    (0..<hd).reduce(Float(0)) { $0 + q[h * hd + $1] * keys[j][g * hd + $1] } * c.attentionScale
                }
                let top = scores.max()!
                let weights = scores.map { exp($0 - top) }, total = weights.reduce(0, +)
                for j in 0...i { for e in 0..<hd { attention[h * hd + e] += weights[j] / total * values[j][g * hd + e] } }
            }
            x[i] = zip(x[i], apply(wo, attention)).map(+)
            let f = rmsNorm(x[i], ffnNorm)
            let activated = zip(apply(gate, f), apply(up, f)).map { g, u in g / (1 + exp(-g)) * u }
            x[i] = zip(x[i], apply(down, activated)).map(+)
        }
        let out = x.flatMap { rmsNorm($0, headNorm) }
        let logits = (0..<n).flatMap { apply(head, Array(out[($0 * d)..<(($0 + 1) * d)])) }
        return Output(logits: logits, hidden: out)
    }
}
