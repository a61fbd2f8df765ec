import EPLB
import GGUF
import Tokenization

/// A mixture-of-experts GGUF file of realistic shape with random weights, in llama.cpp's layout,
/// for benchmarks and EPLB on skewed routing (no such model is small enough to fetch here).
///
/// Quantized blocks are written directly: random quants under scales that give each row the
/// spread of a U(−a, a) weight with a = 1.7/√columns, so activations keep their size through
/// the layers. The router is F32; with `routerSkew` > 0 the rows of a few experts (chosen by the
/// seed) are scaled up by 1 + skew/(rank + 1), so their logits vary more and they win the top-k
/// more often: a hot-expert distribution like real models'.
struct SyntheticMoEModel {
    var architecture = "qwen3moe"
    var layers = 16
    var experts = 64
    var expertsUsed = 8
    var hidden = 1024
    var heads = 16
    var kvHeads = 4
    var headDim = 64
    var expertFeedForward = 512
    var sharedExpertFeedForward = 1024
    var contextLength = 4096
    var type = GGMLType.q4_1
    var routerSkew = 0.0
    var seed: UInt64 = 1

    static let types: [GGMLType] = [.q4_1, .q5_0, .q8_0, .q4_K]

    func write() -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var w = GGUFWriter()
        let a = architecture == "mixtral" ? "llama" : architecture
        w.set("general.architecture", .string(a))
        w.set("general.name", .string("synthetic \(architecture) \(layers)L \(experts)E top-\(expertsUsed) \(type)"))
        Self.addByteVocabulary(to: &w)
        for (key, value) in [("embedding_length", hidden), ("block_count", layers), ("attention.head_count", heads),
                             ("attention.head_count_kv", kvHeads), ("attention.key_length", headDim), ("attention.value_length", headDim),
                             ("context_length", contextLength), ("expert_count", experts), ("expert_used_count", expertsUsed),
                             ("feed_forward_length", a == "llama" ? expertFeedForward : 4 * hidden),
                             ("expert_feed_forward_length", expertFeedForward), ("rope.dimension_count", headDim)] {
            w.set("\(a).\(key)", .uint32(UInt32(value)))
        }
        if a == "qwen2moe" { w.set("\(a).expert_shared_feed_forward_length", .uint32(UInt32(sharedExpertFeedForward))) }
        w.set("\(a).rope.freq_base", .float32(1_000_000))
        w.set("\(a).attention.layer_norm_rms_epsilon", .float32(1e-6))
        let q = heads * headDim, kv = kvHeads * headDim, f = expertFeedForward
        let hot = (0..<experts).shuffled(using: &rng)
        w.add(matrix("token_embd.weight", [hidden, 257], .q8_0, &rng))
        for l in 0..<layers {
            let p = "blk.\(l)."
            w.add(norm(p + "attn_norm.weight", hidden, &rng))
            w.add(matrix(p + "attn_q.weight", [hidden, q], type, &rng))
            w.add(matrix(p + "attn_k.weight", [hidden, kv], type, &rng))
            w.add(matrix(p + "attn_v.weight", [hidden, kv], type, &rng))
            w.add(matrix(p + "attn_output.weight", [q, hidden], type, &rng))
            if a == "qwen3moe" {
                w.add(norm(p + "attn_q_norm.weight", headDim, &rng))
                w.add(norm(p + "attn_k_norm.weight", headDim, &rng))
            }
            if a == "qwen2moe" {
                for (name, n) in [("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv)] {
                    w.add(.init(name: p + name, shape: [n], floats: (0..<n).map { _ in Float(rng.nextUnit() - 0.5) * 0.2 }))
                }
            }
            w.add(norm(p + "ffn_norm.weight", hidden, &rng))
            w.add(router(p + "ffn_gate_inp.weight", hot: hot, &rng))
            w.add(matrix(p + "ffn_gate_exps.weight", [hidden, f, experts], type, &rng))
            w.add(matrix(p + "ffn_up_exps.weight", [hidden, f, experts], type, &rng))
            w.add(matrix(p + "ffn_down_exps.weight", [f, hidden, experts], type, &rng))
            if a == "qwen2moe" {
                let s = sharedExpertFeedForward
                w.add(.init(name: p + "ffn_gate_inp_shexp.weight", shape: [hidden],
                            floats: (0..<hidden).map { _ in Float(rng.nextUnit() - 0.5) / Float(hidden).squareRoot() }))
                w.add(matrix(p + "ffn_gate_shexp.weight", [hidden, s], type, &rng))
                w.add(matrix(p + "ffn_up_shexp.weight", [hidden, s], type, &rng))
                w.add(matrix(p + "ffn_down_shexp.weight", [s, hidden], type, &rng))
            }
        }
        w.add(norm("output_norm.weight", hidden, &rng))
        return w.bytes()
    }

    /// 256 byte tokens (GPT-2's byte map, no merges) and `<|endoftext|>` as EOS: any text
    /// tokenizes, and llama.cpp loads it as a `gpt2` vocabulary.
    static func addByteVocabulary(to w: inout GGUFWriter) {
        var tokens: [GGUFValue] = (0..<256).map { .string(String(Character(ByteLevelMapping.scalar(for: UInt8($0))))) }
        tokens.append(.string("<|endoftext|>"))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("default"))
        w.set("tokenizer.ggml.tokens", .array(elementType: .string, values: tokens))
        w.set("tokenizer.ggml.token_type", .array(elementType: .int32, values: (0..<257).map { .int32($0 == 256 ? 3 : 1) }))
        w.set("tokenizer.ggml.merges", .array(elementType: .string, values: []))
        w.set("tokenizer.ggml.eos_token_id", .uint32(256))
        w.set("tokenizer.ggml.bos_token_id", .uint32(256))
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
    }

    private func norm(_ name: String, _ n: Int, _ rng: inout SplitMix64) -> GGUFWriter.Tensor {
        .init(name: name, shape: [n], floats: (0..<n).map { _ in Float(0.9 + 0.2 * rng.nextUnit()) })
    }

    /// F32 router rows; hot experts' rows scaled up by 1 + skew / (rank + 1).
    private func router(_ name: String, hot: [Int], _ rng: inout SplitMix64) -> GGUFWriter.Tensor {
        let spread = 1.7 / Float(hidden).squareRoot()
        var values = [Float](repeating: 0, count: experts * hidden)
        for (rank, e) in hot.enumerated() {
            let scale = Float(1 + routerSkew / Double(rank + 1))
            for i in 0..<hidden { values[e * hidden + i] = (Float(rng.nextUnit()) * 2 - 1) * spread * scale }
        }
        return .init(name: name, shape: [hidden, experts], floats: values)
    }

    /// Random blocks of `type` for a tensor of `shape` (GGUF order: row length first).
    private func matrix(_ name: String, _ shape: [Int], _ type: GGMLType, _ rng: inout SplitMix64) -> GGUFWriter.Tensor {
        let count = shape.reduce(1, *), blocks = count / type.blockSize, a = 1.7 / Float(shape[0]).squareRoot()
        var bytes = [UInt8](repeating: 0, count: blocks * type.blockBytes)
        bytes.withUnsafeMutableBytes { raw in
            for b in 0..<blocks {
                let block = raw.baseAddress! + b * type.blockBytes
                rng.fill(block, count: type.blockBytes)
                func half(_ offset: Int, _ value: Float) { block.storeBytes(of: floatToHalf(value), toByteOffset: offset, as: UInt16.self) }
                switch type {
                case .q4_1: half(0, 2 * a / 15); half(2, -a)
                case .q5_0: half(0, a / 16)
                case .q8_0: half(0, a / 127)
                case .q4_K: half(0, 2 * a / 15 / 40); half(2, a / 40)  // 6-bit scales ≈ 32 on average
                default: fatalError("no synthetic blocks for \(type)")
                }
            }
        }
        return .init(name: name, shape: shape, type: type, data: bytes)
    }
}

extension SplitMix64 {
    /// Fills `count` bytes at `p` with random bytes.
    mutating func fill(_ p: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while i + 8 <= count {
            p.storeBytes(of: next(), toByteOffset: i, as: UInt64.self)
            i += 8
        }
        if i < count {
            let last = next()
            for j in i..<count { p.storeBytes(of: UInt8(truncatingIfNeeded: last >> (8 * UInt64(j - i))), toByteOffset: j, as: UInt8.self) }
        }
    }
}
