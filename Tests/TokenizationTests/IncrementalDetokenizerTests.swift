import Testing
import Tokenization

/// Streaming decoding equals decoding at once.
@Suite struct IncrementalDetokenizerTests {
    @Test func charactersSplitAcrossByteTokensAreHeldBack() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: SentencePieceTests.pieces)
        let ids = tokenizer.encode("h😀", addSpecial: false)
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        let outputs = ids.map { detokenizer.append($0) }
        #expect(outputs == ["h", "", "", "", "😀"])
        #expect(detokenizer.finish() == "")
    }

    @Test func danglingPartialCharacterBecomesReplacement() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: SentencePieceTests.pieces)
        let ids = Array(tokenizer.encode("h😀", addSpecial: false).prefix(3))  // ▁h F0 9F
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        var text = detokenizer.append(contentsOf: ids)
        #expect(text == "h")
        text += detokenizer.finish()
        #expect(text == "h\u{FFFD}")
        #expect(text == tokenizer.decode(ids))
    }

    @Test func brokenSequencesMatchDecode() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: SentencePieceTests.pieces)
        let byte = { (b: UInt8) in 3 + Int(b) }
        let streams: [[Int]] = [
            [byte(0xF0), byte(0x9F), byte(0x41)],  // truncated emoji, then "A"
            [byte(0xE0), byte(0x80)],  // not completable after the second byte
            [byte(0xC3), byte(0xC3), byte(0xA9)],  // lead byte restarts
            [byte(0x80), byte(0xBF)],  // stray continuation bytes
            [byte(0xED), byte(0xA0), byte(0x80)],  // surrogate
        ]
        for ids in streams {
            var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
            var text = ""
            for id in ids { text += detokenizer.append(id) }
            text += detokenizer.finish()
            #expect(text == tokenizer.decode(ids), "\(ids)")
        }
    }

    @Test func randomTokenStreamsMatchDecode() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        var rng = SeededGenerator(seed: 0x5EED_0004)
        for i in 0..<2000 {
            // Random ids split UTF-8 characters in every possible way; some are out of range.
            let ids: [Int]
            if i % 2 == 0 {
                ids = (0..<Int.random(in: 0...20, using: &rng)).map { _ in Int.random(in: -2..<(tokenizer.vocabSize + 2), using: &rng) }
            } else {
                ids = tokenizer.encode(RandomText.string(using: &rng), addSpecial: false, parseSpecial: true)
            }
            let skip = Bool.random(using: &rng)
            var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
            var text = ""
            for id in ids { text += detokenizer.append(id) }
            text += detokenizer.finish()
            #expect(text == tokenizer.decode(ids, skipSpecialTokens: skip), "case \(i): \(ids)")
        }
    }

    @Test func spacePrefixIsDroppedOnceWhenStreaming() throws {
        let tokenizer = try TinyVocabularies.sentencePiece(pieces: SentencePieceTests.pieces)
        let ids = tokenizer.encode("hello world")
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        let parts = ids.map { detokenizer.append($0) }
        #expect(parts == ["", "hello", " world"])
        #expect(parts.joined() == tokenizer.decode(ids, skipSpecialTokens: true))
    }

    @Test func outOfRangeIdsAreSkipped() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        #expect(tokenizer.decode([-1, 504, 1_000_000, Int.max, Int.min]) == "The")
        #expect(tokenizer.tokenPiece(-5) == [])
        #expect(tokenizer.tokenPiece(tokenizer.vocabSize) == [])
    }
}
