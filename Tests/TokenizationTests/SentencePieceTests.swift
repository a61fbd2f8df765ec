import Testing
import Tokenization

/// SentencePiece BPE on a hand-made `llama` vocabulary.
@Suite struct SentencePieceTests {
    /// Ids: `<unk>` 0, `<s>` 1, `</s>` 2, bytes 3…258, then these from 259. Every multi-character
    /// piece has a merge path of pieces with higher scores, as in a trained model.
    static let pieces: [(text: String, score: Float)] = [
        ("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2), ("r", -2), ("d", -2),
        ("he", -1.5), ("ll", -1.6), ("hell", -1.7), ("hello", -1.8), ("▁hello", -1.9),
        ("or", -2.1), ("ld", -2.2), ("orld", -2.3), ("world", -2.4), ("▁world", -2.5), ("▁h", -5),
        ("a", -2), ("b", -2), ("c", -2), ("ab", -10), ("bc", -20),
    ]

    static func id(_ text: String) -> Int { 259 + pieces.firstIndex { $0.text == text }! }

    @Test func mergesByScoreWithSpacePrefix() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        #expect(tokenizer.encode("hello world", addSpecial: false) == [Self.id("▁hello"), Self.id("▁world")])
        // Higher score wins: "ab" (-10) before "bc" (-20).
        #expect(tokenizer.encode("abc", addSpecial: false) == [Self.id("▁"), Self.id("ab"), Self.id("c")])
    }

    @Test func scoresDecideBetweenOverlappingPairs() throws {
        var pieces = Self.pieces
        pieces[pieces.firstIndex { $0.text == "bc" }!].score = -5
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: pieces)
        #expect(tokenizer.encode("abc", addSpecial: false) == [Self.id("▁"), Self.id("a"), Self.id("bc")])
    }

    @Test func spacePrefixCanBeTurnedOff() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(
            pieces: Self.pieces, more: [("tokenizer.ggml.add_space_prefix", .bool(false))])
        #expect(tokenizer.encode("hello", addSpecial: false) == [Self.id("hello")])
        #expect(tokenizer.decode(tokenizer.encode("hello world", addSpecial: false)) == "hello world")
    }

    @Test func bytesFallBackForUnknownCharacters() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        // "é" is C3 A9; "😀" is F0 9F 98 80. Byte tokens are `3 + byte`.
        #expect(tokenizer.encode("é", addSpecial: false) == [Self.id("▁"), 3 + 0xC3, 3 + 0xA9])
        #expect(tokenizer.encode("h😀", addSpecial: false) == [Self.id("▁h"), 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80])
        // Invalid UTF-8 keeps its bytes too.
        #expect(tokenizer.encode(bytes: [0xFF], addSpecial: false) == [Self.id("▁"), 3 + 0xFF])
    }

    @Test func unknownTokenWithoutByteFallback() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces, byteFallback: false)
        let ids = tokenizer.encode("hé", addSpecial: false)
        let base = 3 + Self.pieces.firstIndex { $0.text == "▁h" }!
        #expect(ids == [base, 0, 0])
        #expect(tokenizer.decode(ids) == "h<unk><unk>")
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "h")
    }

    @Test func beginningOfSequenceIsAddedPerMetadata() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        #expect(tokenizer.vocabulary.addBOS)
        #expect(tokenizer.encode("hello") == [1, Self.id("▁hello")])
        #expect(tokenizer.encode("") == [1])
        #expect(tokenizer.encode("", addSpecial: false) == [])
        let withEOS = try TinyVocabularies.sentencePiece(
            pieces: Self.pieces,
            more: [("tokenizer.ggml.add_bos_token", .bool(false)), ("tokenizer.ggml.add_eos_token", .bool(true))])
        #expect(withEOS.encode("hello") == [Self.id("▁hello"), 2])
    }

    @Test func specialTokensAndSpacePrefixAfterThem() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        // Like llama.cpp, text after a special token gets the space prefix again.
        #expect(tokenizer.encode("hello</s>world", addSpecial: false, parseSpecial: true)
            == [Self.id("▁hello"), 2, Self.id("▁world")])
        let plain = tokenizer.encode("</s>", addSpecial: false, parseSpecial: false)
        #expect(!plain.contains(2))
        #expect(tokenizer.decode(plain) == "</s>")
    }

    @Test func decodeRoundTrip() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        for text in ["hello world", " hello", "hello  world ", "héllo wörld 😀", "", "a\nb\tc", "日本"] {
            let ids = tokenizer.encode(text)
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == text, "\(text.debugDescription)")
        }
        #expect(tokenizer.decode(tokenizer.encode("hello world")) == "<s> hello world")
        #expect(tokenizer.tokenPiece(Self.id("▁world")) == Array(" world".utf8))
        #expect(tokenizer.tokenPiece(3 + 0x0A) == [0x0A])
    }

    @Test func randomBytesRoundTripThroughByteFallback() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: Self.pieces)
        var rng = SeededGenerator(seed: 0x5EED_0003)
        for i in 0..<2000 {
            let bytes = RandomText.bytes(using: &rng)
            let ids = tokenizer.encode(bytes: bytes, addSpecial: false)
            // A literal "▁" in the input reads back as a space, as in SentencePiece itself.
            let expected = String(decoding: bytes, as: UTF8.self).replacing("▁", with: " ")
            #expect(tokenizer.decode(ids) == expected, "case \(i): \(bytes)")
        }
    }
}
