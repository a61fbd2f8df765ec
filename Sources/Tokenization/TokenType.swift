/// The kind of a vocabulary entry, as stored in `tokenizer.ggml.token_type`.
///
/// The raw values are llama.cpp's `llama_token_type`. A value outside this list is read as
/// ``undefined``.
public enum TokenType: Int, Sendable, Hashable {
    case undefined = 0
    /// Ordinary text, produced by the tokenizer's merges.
    case normal = 1
    /// The unknown token (`<unk>`).
    case unknown = 2
    /// A control token such as `<s>` or `<|im_end|>`: only recognised in input when special
    /// tokens are parsed, and rendered in output only when special tokens are not skipped.
    case control = 3
    /// A token added by the model's authors; always recognised in input, as llama.cpp does.
    case userDefined = 4
    /// A reserved slot that never appears in text.
    case unused = 5
    /// A SentencePiece byte-fallback token such as `<0x0A>`.
    case byte = 6

    /// Whether the text of tokens of this kind is matched in input before tokenization
    /// (control and unknown tokens only when special tokens are parsed).
    var isSpecial: Bool { self == .control || self == .userDefined || self == .unknown }
}
