import GGUF
import Testing
import Tokenization

/// Reading vocabularies from metadata, and the errors for broken ones.
@Suite struct VocabularyTests {
    typealias Entries = [(String, GGUFValue)]

    static let valid: Entries = [
        ("tokenizer.ggml.model", .string("gpt2")),
        ("tokenizer.ggml.pre", .string("smollm")),
        ("tokenizer.ggml.tokens", TinyVocabularies.strings(["a", "b", "ab", "<|im_end|>"])),
        ("tokenizer.ggml.token_type", TinyVocabularies.int32s([1, 1, 1, 3])),
        ("tokenizer.ggml.merges", TinyVocabularies.strings(["a b"])),
        ("tokenizer.ggml.eos_token_id", .uint32(3)),
    ]

    static func replacing(_ key: String, with value: GGUFValue?) -> Entries {
        var entries = valid.filter { $0.0 != key }
        if let value { entries.append((key, value)) }
        return entries
    }

    static func error(_ entries: Entries) throws -> TokenizerError? {
        let metadata = try TinyVocabularies.metadata(entries)
        do {
            _ = try Vocabulary(metadata: metadata)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsValidVocabulary() throws {
        let v = try Vocabulary(metadata: TinyVocabularies.metadata(Self.valid))
        #expect(v.count == 4)
        #expect(v.model == .byteLevelBPE)
        #expect(v.merges.count == 1 && v.merges[0] == ("a", "b"))
        #expect(v.eosTokenId == 3 && v.bosTokenId == nil)
        #expect(v.eotTokenId == 3)
        #expect(!v.addBOS && !v.addEOS && !v.addSpacePrefix)
        #expect(v.chatTemplate == nil)
    }

    @Test func reportsTheKeyAtFault() throws {
        #expect(try Self.error(Self.replacing("tokenizer.ggml.model", with: nil)) == .missingKey("tokenizer.ggml.model"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.model", with: .string("bert"))) == .unsupportedModel("bert"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.model", with: .uint32(2)))
            == .wrongValueType(key: "tokenizer.ggml.model", expected: "a string"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.pre", with: .string("nonsense"))) == .unsupportedPreTokenizer("nonsense"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.tokens", with: nil)) == .missingKey("tokenizer.ggml.tokens"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.tokens", with: TinyVocabularies.int32s([1, 2])))
            == .wrongValueType(key: "tokenizer.ggml.tokens", expected: "an array of strings"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.tokens", with: TinyVocabularies.strings([]))) == .emptyVocabulary)
        #expect(try Self.error(Self.replacing("tokenizer.ggml.token_type", with: TinyVocabularies.int32s([1])))
            == .arrayLengthMismatch(key: "tokenizer.ggml.token_type", expected: 4, found: 1))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.token_type", with: TinyVocabularies.strings(["1", "1", "1", "1"])))
            == .wrongValueType(key: "tokenizer.ggml.token_type", expected: "an array of integers"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.scores", with: TinyVocabularies.float32s([0])))
            == .arrayLengthMismatch(key: "tokenizer.ggml.scores", expected: 4, found: 1))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.merges", with: nil)) == .missingKey("tokenizer.ggml.merges"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.merges", with: TinyVocabularies.strings(["ab"])))
            == .malformedMerge(index: 0, merge: "ab"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.eos_token_id", with: .uint32(4)))
            == .tokenIdOutOfRange(key: "tokenizer.ggml.eos_token_id", id: 4, vocabularySize: 4))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.bos_token_id", with: .string("1")))
            == .wrongValueType(key: "tokenizer.ggml.bos_token_id", expected: "an integer"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.add_bos_token", with: .uint8(1)))
            == .wrongValueType(key: "tokenizer.ggml.add_bos_token", expected: "a boolean"))
        #expect(try Self.error(Self.replacing("tokenizer.chat_template", with: .uint8(1)))
            == .wrongValueType(key: "tokenizer.chat_template", expected: "a string"))
    }

    /// Metadata that parses but does not hang together: merges of symbols that are not tokens,
    /// one text twice in a byte-level vocabulary (an unused slot may repeat), absurd sizes.
    @Test func inconsistentVocabulariesAreRefused() throws {
        #expect(try Self.error(Self.replacing("tokenizer.ggml.merges", with: TinyVocabularies.strings(["a b", "ab c"])))
            == .mergeOfUnknownToken(index: 1, merge: "ab c"))
        #expect(try Self.error(Self.replacing("tokenizer.ggml.tokens", with: TinyVocabularies.strings(["a", "b", "a", "<|im_end|>"])))
            == .duplicateToken(text: "a", firstId: 0, secondId: 2))
        var unusedRepeat = Self.replacing("tokenizer.ggml.tokens", with: TinyVocabularies.strings(["a", "b", "ab", "<|im_end|>", "<pad>", "<pad>"]))
        unusedRepeat = unusedRepeat.filter { $0.0 != "tokenizer.ggml.token_type" } + [("tokenizer.ggml.token_type", TinyVocabularies.int32s([1, 1, 1, 3, 5, 5]))]
        #expect(try Self.error(unusedRepeat) == nil)
        let huge = TinyVocabularies.strings((0...(4 << 20)).map { "t\($0)" })
        #expect(try Self.error(Self.replacing("tokenizer.ggml.tokens", with: huge).filter { $0.0 != "tokenizer.ggml.token_type" })
            == .vocabularyTooLarge(count: (4 << 20) + 1, limit: 4 << 20))
    }

    @Test func errorsDescribeThemselves() {
        #expect(TokenizerError.missingKey("tokenizer.ggml.tokens").description.contains("tokenizer.ggml.tokens"))
        #expect(TokenizerError.unsupportedModel("bert").description.contains("bert"))
    }

    @Test func defaultsFollowLlamaCpp() throws {
        // SentencePiece: BOS 1, EOS 2, unknown 0, add BOS and space prefix unless told otherwise.
        let spm = try Vocabulary(metadata: TinyVocabularies.metadata([
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", TinyVocabularies.strings(["<unk>", "<s>", "</s>", "▁a"])),
        ]))
        #expect(spm.bosTokenId == 1 && spm.eosTokenId == 2 && spm.unknownTokenId == 0)
        #expect(spm.addBOS && !spm.addEOS && spm.addSpacePrefix)
        #expect(spm.endOfGenerationIds == [2])
        // Byte-level BPE with a llama3 pre-tokenizer adds BOS by default; the key overrides it.
        let llama3 = Self.replacing("tokenizer.ggml.pre", with: .string("llama-bpe"))
        #expect(try Vocabulary(metadata: TinyVocabularies.metadata(llama3)).addBOS)
        let overridden = llama3 + [("tokenizer.ggml.add_bos_token", .bool(false))]
        #expect(try !Vocabulary(metadata: TinyVocabularies.metadata(overridden)).addBOS)
        // No pre-tokenizer key means llama.cpp's default one.
        let noPre = Self.replacing("tokenizer.ggml.pre", with: nil)
        #expect(try Vocabulary(metadata: TinyVocabularies.metadata(noPre)).preTokenizerName == "default")
    }

    @Test func unknownTokenTypesReadAsUndefined() throws {
        let entries = Self.replacing("tokenizer.ggml.token_type", with: TinyVocabularies.int32s([1, 9, 1, 3]))
        let v = try Vocabulary(metadata: TinyVocabularies.metadata(entries))
        #expect(v.tokenTypes[1] == .undefined)
    }
}
