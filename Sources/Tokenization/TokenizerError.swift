/// Everything that can be wrong with a tokenizer description in GGUF metadata.
///
/// Each case names the metadata key (or token) at fault, so a user can tell which part of the
/// file is broken without reading the tokenizer's source.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A required metadata key is absent.
    case missingKey(String)
    /// A metadata key holds a value of the wrong type.
    case wrongValueType(key: String, expected: String)
    /// `tokenizer.ggml.model` names a tokenizer this package does not implement.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this package does not implement.
    case unsupportedPreTokenizer(String)
    /// `tokenizer.ggml.tokens` is empty.
    case emptyVocabulary
    /// A per-token array (`scores`, `token_type`) does not have one entry per token.
    case arrayLengthMismatch(key: String, expected: Int, found: Int)
    /// A special-token id key points outside the vocabulary.
    case tokenIdOutOfRange(key: String, id: Int, vocabularySize: Int)
    /// An entry of `tokenizer.ggml.merges` is not two symbols separated by a space.
    case malformedMerge(index: Int, merge: String)
    /// An entry of `tokenizer.ggml.merges` joins a symbol that is not a token.
    case mergeOfUnknownToken(index: Int, merge: String)
    /// Two tokens have the same text (neither of them unused), so text could not say which.
    case duplicateToken(text: String, firstId: Int, secondId: Int)
    /// More tokens than any real vocabulary (a hostile or corrupt file).
    case vocabularyTooLarge(count: Int, limit: Int)

    public var description: String {
        switch self {
        case .missingKey(let key): "missing tokenizer metadata key '\(key)'"
        case .wrongValueType(let key, let expected): "tokenizer metadata key '\(key)' is not \(expected)"
        case .unsupportedModel(let model):
            "unsupported tokenizer model '\(model)' in 'tokenizer.ggml.model' (supported: gpt2, llama)"
        case .unsupportedPreTokenizer(let pre): "unsupported pre-tokenizer '\(pre)' in 'tokenizer.ggml.pre'"
        case .emptyVocabulary: "'tokenizer.ggml.tokens' is empty"
        case .arrayLengthMismatch(let key, let expected, let found):
            "'\(key)' has \(found) entries but the vocabulary has \(expected) tokens"
        case .tokenIdOutOfRange(let key, let id, let size):
            "'\(key)' is \(id), outside the vocabulary of \(size) tokens"
        case .malformedMerge(let index, let merge):
            "'tokenizer.ggml.merges' entry \(index) (\"\(merge)\") is not two symbols separated by a space"
        case .mergeOfUnknownToken(let index, let merge):
            "'tokenizer.ggml.merges' entry \(index) (\"\(merge)\") joins a symbol that is not in 'tokenizer.ggml.tokens'"
        case .duplicateToken(let text, let first, let second):
            "'tokenizer.ggml.tokens' holds \"\(text)\" twice (ids \(first) and \(second))"
        case .vocabularyTooLarge(let count, let limit):
            "'tokenizer.ggml.tokens' has \(count) tokens, more than the \(limit) this reader accepts"
        }
    }
}
