import GGUF
import Tokenization

/// Hand-made vocabularies written with ``GGUFWriter`` and read back, for exact, small checks.
enum TinyVocabularies {
    /// The metadata of a GGUF image holding `entries`.
    static func metadata(_ entries: [(String, GGUFValue)]) throws -> GGUFMetadata {
        var writer = GGUFWriter()
        for (key, value) in entries { writer.set(key, value) }
        return try GGUFFile(bytes: writer.bytes()).metadata
    }

    static func strings(_ values: [String]) -> GGUFValue {
        .array(elementType: .string, values: values.map { .string($0) })
    }

    static func int32s(_ values: [Int]) -> GGUFValue {
        .array(elementType: .int32, values: values.map { .int32(Int32($0)) })
    }

    static func float32s(_ values: [Float]) -> GGUFValue {
        .array(elementType: .float32, values: values.map { .float32($0) })
    }

    /// A byte-level BPE vocabulary: the 256 byte characters (ids 0…255, in byte order), then
    /// `extra` tokens with their types, with `merges` in rank order. `pre` nil leaves out
    /// `tokenizer.ggml.pre`.
    static func byteLevel(
        extra: [(text: String, type: TokenType)] = [], merges: [String] = [], pre: String? = "gpt-2",
        more: [(String, GGUFValue)] = []
    ) throws -> Tokenizer {
        let bytes = (0..<256).map { String(ByteLevelCharacters.scalar(for: UInt8($0))) }
        let tokens = bytes + extra.map(\.text)
        let types = Array(repeating: 1, count: 256) + extra.map(\.type.rawValue)
        return try Tokenizer(metadata: metadata([
            ("tokenizer.ggml.model", .string("gpt2")),
        ] + (pre.map { [("tokenizer.ggml.pre", .string($0))] } ?? []) + [
            ("tokenizer.ggml.tokens", strings(tokens)),
            ("tokenizer.ggml.token_type", int32s(types)),
            ("tokenizer.ggml.merges", strings(merges)),
        ] + more))
    }

    /// A SentencePiece vocabulary: `<unk>` 0, `<s>` 1, `</s>` 2, then `<0x00>`…`<0xFF>` (ids
    /// 3…258) when `byteFallback`, then `pieces` with their scores.
    static func sentencePiece(
        pieces: [(text: String, score: Float)], byteFallback: Bool = true, more: [(String, GGUFValue)] = []
    ) throws -> Tokenizer {
        var tokens = ["<unk>", "<s>", "</s>"]
        var types = [TokenType.unknown, .control, .control].map(\.rawValue)
        var scores: [Float] = [0, 0, 0]
        if byteFallback {
            for byte in 0..<256 {
                tokens.append("<0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2) + ">")
                types.append(TokenType.byte.rawValue)
                scores.append(0)
            }
        }
        for piece in pieces {
            tokens.append(piece.text)
            types.append(TokenType.normal.rawValue)
            scores.append(piece.score)
        }
        return try Tokenizer(metadata: metadata([
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", strings(tokens)),
            ("tokenizer.ggml.scores", float32s(scores)),
            ("tokenizer.ggml.token_type", int32s(types)),
            ("tokenizer.ggml.bos_token_id", .uint32(1)),
            ("tokenizer.ggml.eos_token_id", .uint32(2)),
            ("tokenizer.ggml.unknown_token_id", .uint32(0)),
        ] + more))
    }
}

/// GPT-2's byte ↔ character map, written out independently of the library's.
enum ByteLevelCharacters {
    static func scalar(for byte: UInt8) -> Unicode.Scalar {
        let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        if printable { return Unicode.Scalar(byte) }
        let shifted = (0..<Int(byte)).filter { b in
            !((0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b))
        }.count
        return Unicode.Scalar(UInt32(256 + shifted))!
    }

    /// The vocabulary text for raw bytes.
    static func text(_ s: String) -> String {
        String(String.UnicodeScalarView(s.utf8.map(scalar(for:))))
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
