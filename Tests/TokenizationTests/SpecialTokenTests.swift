import Testing
import Tokenization

/// Special tokens: recognition in input, end of generation, rendering.
@Suite struct SpecialTokenTests {
    @Test func controlTokensAreParsedOnlyWhenAsked() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let text = "<|im_start|>user"
        #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: true) == [1, 4093])
        let plain = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        #expect(!plain.contains(1))
        #expect(plain.count > 2)
        #expect(tokenizer.decode(plain) == text)
        #expect(tokenizer.decode([1, 4093]) == text)
        #expect(tokenizer.decode([1, 4093], skipSpecialTokens: true) == "user")
    }

    @Test func modelSettings() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let v = tokenizer.vocabulary
        #expect(v.model == .byteLevelBPE)
        #expect(v.preTokenizerName == "smollm")
        #expect(tokenizer.vocabSize == 49152)
        #expect(tokenizer.bosTokenId == 1)
        #expect(tokenizer.eosTokenId == 2)
        #expect(tokenizer.eotTokenId == 2)
        #expect(!v.addBOS && !v.addEOS)
        #expect(tokenizer.encode("Hi", addSpecial: true) == tokenizer.encode("Hi", addSpecial: false))
        #expect(tokenizer.chatTemplate?.contains("<|im_start|>") == true)
        #expect(tokenizer.tokenType(1) == .control)
        #expect(tokenizer.tokenType(-1) == nil)
    }

    @Test func endOfGenerationTokens() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        #expect(tokenizer.isEndOfGeneration(2))  // <|im_end|>, also EOS
        #expect(tokenizer.isEndOfGeneration(0))  // <|endoftext|>
        #expect(!tokenizer.isEndOfGeneration(1))  // <|im_start|>
        #expect(!tokenizer.isEndOfGeneration(504))
        #expect(!tokenizer.isEndOfGeneration(-1))
        #expect(tokenizer.vocabulary.endOfGenerationIds == [0, 2])
    }

    @Test func adjacentAndRepeatedSpecialTokens() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let ids = tokenizer.encode("<|im_end|><|im_end|>x<|im_start|>", addSpecial: false, parseSpecial: true)
        #expect(ids.first == 2 && ids[1] == 2 && ids.last == 1)
        #expect(tokenizer.decode(ids) == "<|im_end|><|im_end|>x<|im_start|>")
        // A partial special token is plain text.
        #expect(!tokenizer.encode("<|im_start", addSpecial: false, parseSpecial: true).contains(1))
    }

    @Test func longerSpecialTokensWinWhereTheyOverlap() throws {
        // llama.cpp cuts out the longest special tokens first: in "abcd", "bcd" beats "ab".
        let tokenizer = try TinyVocabularies.byteLevel(extra: [("ab", .control), ("bcd", .control)])
        #expect(tokenizer.encode("abcd", parseSpecial: true) == [Int(UInt8(ascii: "a")), 257])
        #expect(tokenizer.encode("abab", parseSpecial: true) == [256, 256])
        #expect(tokenizer.encode("abcd", parseSpecial: false) == Array("abcd".utf8).map(Int.init))
    }

    @Test func userDefinedTokensAreAlwaysRecognised() throws {
        let tokenizer = try TinyVocabularies.byteLevel(extra: [("<tool>", .userDefined), ("<ctl>", .control)])
        #expect(tokenizer.encode("x<tool>y", parseSpecial: false) == [Int(UInt8(ascii: "x")), 256, Int(UInt8(ascii: "y"))])
        #expect(tokenizer.encode("<ctl>", parseSpecial: false).count == 5)
        #expect(tokenizer.encode("<ctl>", parseSpecial: true) == [257])
        #expect(tokenizer.decode([256, 257]) == "<tool><ctl>")
        #expect(tokenizer.decode([256, 257], skipSpecialTokens: true) == "<tool>")
    }

    @Test func endOfGenerationTextsBecomeControlTokens() throws {
        // llama.cpp marks tokens such as <|im_end|> as control and end-of-generation by their text.
        let tokenizer = try TinyVocabularies.byteLevel(extra: [("<|im_end|>", .normal), ("<|eot_id|>", .normal)])
        #expect(tokenizer.tokenType(256) == .control)
        #expect(tokenizer.isEndOfGeneration(256) && tokenizer.isEndOfGeneration(257))
        #expect(tokenizer.eotTokenId == 257)
        #expect(tokenizer.eosTokenId == nil)
    }
}
