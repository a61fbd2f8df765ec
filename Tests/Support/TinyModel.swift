import Foundation
import GGUF

/// Tiny random models of each supported architecture, written with our GGUF writer, with a small
/// byte-level vocabulary so engines and tokenizers can run on them.
public struct TinyModel: Sendable {
    public var architecture = "llama"
    public var vocab = 64
    public var hidden = 64
    public var heads = 4
    public var kvHeads = 2
    public var headDim = 16
    public var ropeDimensions: Int? = nil
    public var feedForward = 96
    public var layers = 2
    public var contextLength = 256
    public var ropeBase: Float = 10_000
    public var linearRopeScaling: Float? = nil
    /// Type of the projection matrices (norms and biases stay F32).
    public var matrixType: GGMLType = .f32
    public var tiedEmbeddings = true
    public var seed: UInt64 = 1
    /// `gemma3.attention.sliding_window`: five layers of six slide (gemma3 only).
    public var slidingWindow: Int? = nil
    /// Routed experts per layer (qwen2moe, qwen3moe, or llama for Mixtral); nil: a dense MLP.
    public var experts: Int? = nil
    public var expertsUsed = 2
    /// Width of each expert (`expert_feed_forward_length`; Mixtral uses `feedForward`).
    public var expertFeedForward = 64
    /// Width of qwen2moe's shared expert.
    public var sharedExpertFeedForward = 96
    /// Type of the router (`ffn_gate_inp`); F32 as the converters write it.
    public var routerType: GGMLType = .f32
    /// Multi-token-prediction layers after the main ones (`nextn_predict_layers`), each a block plus
    /// `nextn.eh_proj`, `enorm`, `hnorm` and `shared_head_norm`; with untied embeddings also their
    /// own `nextn.embed_tokens` and `nextn.shared_head_head`. Written after every other tensor, so
    /// the main model's weights are those of the same spec without them.
    public var nextnLayers = 0

    public init(architecture: String = "llama", hidden: Int = 64, heads: Int = 4, kvHeads: Int = 2, headDim: Int = 16,
                ropeDimensions: Int? = nil, layers: Int = 2, contextLength: Int = 256, ropeBase: Float = 10_000,
                linearRopeScaling: Float? = nil, matrixType: GGMLType = .f32, tiedEmbeddings: Bool = true, seed: UInt64 = 1) {
        self.architecture = architecture
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeDimensions = ropeDimensions
        self.layers = layers
        self.contextLength = contextLength
        self.ropeBase = ropeBase
        self.linearRopeScaling = linearRopeScaling
        self.matrixType = matrixType
        self.tiedEmbeddings = tiedEmbeddings
        self.seed = seed
    }

    /// This model with routed experts in place of its MLP (`count` experts, `used` per token).
    public func withExperts(_ count: Int = 8, used: Int = 2) -> TinyModel {
        var spec = self
        spec.experts = count
        spec.expertsUsed = used
        return spec
    }

    /// This model with `count` nextn (MTP) layers after its main layers.
    public func withNextN(_ count: Int = 1) -> TinyModel {
        var spec = self
        spec.nextnLayers = count
        return spec
    }

    /// The vocabulary: printable ASCII (byte-level BPE pieces, no merges), then two control tokens.
    /// Token 62 is `<|endoftext|>` (EOS), 63 is `<|im_end|>`.
    public static let eosTokenId = 62

    static func addVocabulary(to w: inout GGUFWriter) {
        var tokens: [GGUFValue] = []
        for b in UInt8(0x21)...UInt8(0x5E) { tokens.append(.string(String(UnicodeScalar(b)))) }  // 62 printable bytes
        tokens[0] = .string("\u{0120}")  // 'Ġ' stands for the space byte in GPT-2's byte map, in place of '!'
        tokens += [.string("<|endoftext|>"), .string("<|im_end|>")]
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("default"))
        w.set("tokenizer.ggml.tokens", .array(elementType: .string, values: tokens))
        w.set("tokenizer.ggml.token_type", .array(elementType: .int32, values: (0..<64).map { .int32($0 >= 62 ? 3 : 1) }))
        w.set("tokenizer.ggml.merges", .array(elementType: .string, values: []))
        w.set("tokenizer.ggml.eos_token_id", .uint32(62))
        w.set("tokenizer.ggml.bos_token_id", .uint32(62))
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
    }

    public func write() -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var w = GGUFWriter()
        let a = architecture
        w.set("general.architecture", .string(a))
        Self.addVocabulary(to: &w)
        w.set("\(a).embedding_length", .uint32(UInt32(hidden)))
        w.set("\(a).block_count", .uint32(UInt32(layers + nextnLayers)))
        if nextnLayers > 0 { w.set("\(a).nextn_predict_layers", .uint32(UInt32(nextnLayers))) }
        w.set("\(a).feed_forward_length", .uint32(UInt32(feedForward)))
        w.set("\(a).attention.head_count", .uint32(UInt32(heads)))
        w.set("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("\(a).context_length", .uint32(UInt32(contextLength)))
        w.set("\(a).rope.freq_base", .float32(ropeBase))
        w.set("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5))
        if headDim * heads != hidden { w.set("\(a).attention.key_length", .uint32(UInt32(headDim))) }
        if let ropeDimensions { w.set("\(a).rope.dimension_count", .uint32(UInt32(ropeDimensions))) }
        if let slidingWindow { w.set("\(a).attention.sliding_window", .uint32(UInt32(slidingWindow))) }
        if let experts {
            w.set("\(a).expert_count", .uint32(UInt32(experts)))
            w.set("\(a).expert_used_count", .uint32(UInt32(expertsUsed)))
            if a != "llama" { w.set("\(a).expert_feed_forward_length", .uint32(UInt32(expertFeedForward))) }
            if a == "qwen2moe" { w.set("\(a).expert_shared_feed_forward_length", .uint32(UInt32(sharedExpertFeedForward))) }
        }
        if let linearRopeScaling {
            w.set("\(a).rope.scaling.type", .string("linear"))
            w.set("\(a).rope.scaling.factor", .float32(linearRopeScaling))
        }
        func matrix(_ name: String, rows: Int, columns: Int, type: GGMLType? = nil) {
            let scale = 1 / Float(columns).squareRoot()
            let values = (0..<(rows * columns)).map { _ in Float.random(in: -scale...scale, using: &rng) * 1.7 }
            w.add(Self.encode(name, shape: [columns, rows], values: values, type: type ?? matrixType))
        }
        func expertMatrices(_ name: String, count: Int, rows: Int, columns: Int) {
            let scale = 1 / Float(columns).squareRoot()
            let values = (0..<(count * rows * columns)).map { _ in Float.random(in: -scale...scale, using: &rng) * 1.7 }
            w.add(Self.encode(name, shape: [columns, rows, count], values: values, type: matrixType))
        }
        func vector(_ name: String, _ n: Int, around center: Float, spread: Float) {
            w.add(.init(name: name, shape: [n], floats: (0..<n).map { _ in center + Float.random(in: -spread...spread, using: &rng) }))
        }
        let q = heads * headDim, kv = kvHeads * headDim
        matrix("token_embd.weight", rows: vocab, columns: hidden, type: matrixType == .f32 || matrixType == .f16 ? matrixType : .q8_0)
        func block(_ l: Int) {
            let p = "blk.\(l)."
            vector(p + "attn_norm.weight", hidden, around: 1, spread: 0.2)
            matrix(p + "attn_q.weight", rows: q, columns: hidden)
            matrix(p + "attn_k.weight", rows: kv, columns: hidden)
            matrix(p + "attn_v.weight", rows: kv, columns: hidden)
            matrix(p + "attn_output.weight", rows: hidden, columns: q)
            if a == "qwen2" || a == "qwen2moe" {
                vector(p + "attn_q.bias", q, around: 0, spread: 0.3)
                vector(p + "attn_k.bias", kv, around: 0, spread: 0.3)
                vector(p + "attn_v.bias", kv, around: 0, spread: 0.3)
            }
            if a == "qwen3" || a == "qwen3moe" || a == "gemma3" {
                vector(p + "attn_q_norm.weight", headDim, around: 1, spread: 0.3)
                vector(p + "attn_k_norm.weight", headDim, around: 1, spread: 0.3)
            }
            if a == "gemma3" { vector(p + "post_attention_norm.weight", hidden, around: 1, spread: 0.3) }
            vector(p + "ffn_norm.weight", hidden, around: 1, spread: 0.2)
            if let count = self.experts {
                let f = a == "llama" ? feedForward : expertFeedForward
                matrix(p + "ffn_gate_inp.weight", rows: count, columns: hidden, type: routerType)
                expertMatrices(p + "ffn_gate_exps.weight", count: count, rows: f, columns: hidden)
                expertMatrices(p + "ffn_up_exps.weight", count: count, rows: f, columns: hidden)
                expertMatrices(p + "ffn_down_exps.weight", count: count, rows: hidden, columns: f)
                if a == "qwen2moe" {
                    vector(p + "ffn_gate_inp_shexp.weight", hidden, around: 0, spread: 0.3)
                    matrix(p + "ffn_gate_shexp.weight", rows: sharedExpertFeedForward, columns: hidden)
                    matrix(p + "ffn_up_shexp.weight", rows: sharedExpertFeedForward, columns: hidden)
                    matrix(p + "ffn_down_shexp.weight", rows: hidden, columns: sharedExpertFeedForward)
                }
            } else {
                matrix(p + "ffn_gate.weight", rows: feedForward, columns: hidden)
                matrix(p + "ffn_up.weight", rows: feedForward, columns: hidden)
                matrix(p + "ffn_down.weight", rows: hidden, columns: feedForward)
            }
            if a == "gemma3" { vector(p + "post_ffw_norm.weight", hidden, around: 1, spread: 0.3) }
        }
        for l in 0..<layers { block(l) }
        vector("output_norm.weight", hidden, around: 1, spread: 0.2)
        if !tiedEmbeddings { matrix("output.weight", rows: vocab, columns: hidden) }
        for l in layers..<(layers + nextnLayers) {
            block(l)
            let p = "blk.\(l).nextn."
            matrix(p + "eh_proj.weight", rows: hidden, columns: 2 * hidden)
            vector(p + "enorm.weight", hidden, around: 1, spread: 0.2)
            vector(p + "hnorm.weight", hidden, around: 1, spread: 0.2)
            vector(p + "shared_head_norm.weight", hidden, around: 1, spread: 0.2)
            if !tiedEmbeddings {
                matrix(p + "embed_tokens.weight", rows: vocab, columns: hidden)
                matrix(p + "shared_head_head.weight", rows: vocab, columns: hidden)
            }
        }
        return w.bytes()
    }

    /// Encodes floats as F32, F16 or (by simple round-to-nearest quantization) Q8_0, Q4_1, Q4_K, Q6_K.
    public static func encode(_ name: String, shape: [Int], values: [Float], type: GGMLType) -> GGUFWriter.Tensor {
        var bytes: [UInt8] = []
        func half(_ f: Float) { let h = floatToHalf(f); bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        switch type {
        case .f32:
            return .init(name: name, shape: shape, floats: values)
        case .f16:
            values.forEach(half)
        case .q8_0:
            for b in stride(from: 0, to: values.count, by: 32) {
                let block = values[b..<(b + 32)]
                let d = (block.map { abs($0) }.max() ?? 0) / 127
                half(d)
                bytes += block.map { UInt8(bitPattern: Int8(d == 0 ? 0 : ($0 / d).rounded())) }
            }
        case .q4_1:
            for b in stride(from: 0, to: values.count, by: 32) {
                let block = Array(values[b..<(b + 32)])
                let lo = block.min()!, hi = block.max()!
                let d = (hi - lo) / 15
                half(d); half(lo)
                let q = block.map { UInt8(min(15, max(0, d == 0 ? 0 : (($0 - lo) / d).rounded()))) }
                bytes += (0..<16).map { q[$0] | (q[$0 + 16] << 4) }
            }
        case .q4_K:
            for b in stride(from: 0, to: values.count, by: 256) { bytes += encodeQ4K(Array(values[b..<(b + 256)])) }
        case .q6_K:
            for b in stride(from: 0, to: values.count, by: 256) { bytes += encodeQ6K(Array(values[b..<(b + 256)])) }
        default:
            fatalError("unsupported type for tiny models")
        }
        return .init(name: name, shape: shape, type: type, data: bytes)
    }

    /// One Q4_K super-block (round to nearest): per 32 values a 6-bit scale and minimum, relative
    /// to the block's half-precision d and dmin; GGML's packing of the 12 scale bytes and nibbles.
    static func encodeQ4K(_ x: [Float]) -> [UInt8] {
        var scale = [Float](repeating: 0, count: 8), offset = scale
        for j in 0..<8 {
            let sub = x[(32 * j)..<(32 * j + 32)]
            let lo = min(0, sub.min()!), hi = sub.max()!
            scale[j] = (hi - lo) / 15
            offset[j] = -lo
        }
        let d = halfToFloat(floatToHalf(scale.max()! / 63)), dmin = halfToFloat(floatToHalf(offset.max()! / 63))
        let sc = scale.map { d == 0 ? UInt8(0) : UInt8(min(63, ($0 / d).rounded())) }
        let m = offset.map { dmin == 0 ? UInt8(0) : UInt8(min(63, ($0 / dmin).rounded())) }
        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            packed[j] = sc[j] | ((sc[j + 4] >> 4) << 6)
            packed[j + 4] = m[j] | ((m[j + 4] >> 4) << 6)
            packed[j + 8] = (sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4)
        }
        func q(_ i: Int) -> UInt8 {
            let j = i / 32, step = d * Float(sc[j])
            return step == 0 ? 0 : UInt8(min(15, max(0, ((x[i] + dmin * Float(m[j])) / step).rounded())))
        }
        var qs = [UInt8](repeating: 0, count: 128)
        for g in 0..<4 { for l in 0..<32 { qs[32 * g + l] = q(64 * g + l) | (q(64 * g + 32 + l) << 4) } }
        let h = [floatToHalf(d), floatToHalf(dmin)].flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        return h + packed + qs
    }

    /// One Q6_K super-block (round to nearest): per 16 values an int8 scale relative to the
    /// block's half-precision d, 6-bit quants split into low nibbles and high bit pairs.
    static func encodeQ6K(_ x: [Float]) -> [UInt8] {
        let scale = (0..<16).map { s in x[(16 * s)..<(16 * s + 16)].map { abs($0) }.max()! / 31 }
        let d = halfToFloat(floatToHalf(scale.max()! / 127))
        let sc = scale.map { d == 0 ? Int8(0) : Int8(min(127, ($0 / d).rounded())) }
        func q(_ i: Int) -> UInt8 {
            let step = d * Float(sc[i / 16])
            return UInt8(step == 0 ? 32 : Int(min(31, max(-32, (x[i] / step).rounded()))) + 32)
        }
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for n in 0..<2 {
            for l in 0..<32 {
                let q1 = q(128 * n + l), q2 = q(128 * n + l + 32), q3 = q(128 * n + l + 64), q4 = q(128 * n + l + 96)
                ql[64 * n + l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                ql[64 * n + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                qh[32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
            }
        }
        let h = floatToHalf(d)
        return ql + qh + sc.map { UInt8(bitPattern: $0) } + [UInt8(h & 0xFF), UInt8(h >> 8)]
    }
}
