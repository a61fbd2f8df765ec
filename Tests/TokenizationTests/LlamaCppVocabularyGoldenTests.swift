import Foundation
import GGUF
import Testing
import Tokenization

/// Our ids against llama.cpp's on tiny vocabularies: one byte-level BPE vocabulary under every
/// pre-tokenizer we implement, and a SentencePiece vocabulary with byte fallback.
///
/// `Scripts/record_pretokenizer_goldens.py` wrote the vocabularies (laid out as ``TinyVocabularies``
/// lays them out) to GGUF files, loaded each in llama.cpp (llama-cpp-python, `vocab_only`) and
/// recorded its ids for strings chosen for the branches of the pre-tokenizer expressions
/// (Fixtures/*_goldens.json). Here the same vocabularies are rebuilt from the fixture with
/// ``TinyVocabularies`` and every case is tokenized again.
@Suite struct LlamaCppVocabularyGoldenTests {
    struct Case: Decodable {
        var text: String
        var add_special: Bool
        var parse_special: Bool
        var ids: [Int]
    }

    /// A metadata entry beyond the ones ``TinyVocabularies`` writes.
    struct Entry: Decodable {
        var key: String
        var type: String
        var value: Value

        enum Value: Decodable {
            case bool(Bool), int(Int), string(String)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let value = try? container.decode(Bool.self) {
                    self = .bool(value)
                } else if let value = try? container.decode(Int.self) {
                    self = .int(value)
                } else {
                    self = .string(try container.decode(String.self))
                }
            }
        }

        func metadata() throws -> (String, GGUFValue) {
            switch (type, value) {
            case ("bool", .bool(let b)): return (key, .bool(b))
            case ("uint32", .int(let i)): return (key, .uint32(UInt32(i)))
            case ("string", .string(let s)): return (key, .string(s))
            default: throw TestSupport.MissingFixture(description: "unexpected metadata entry \(key): \(type)")
            }
        }
    }

    struct Generator: Decodable {
        var command: String
        var llama_cpp_python: String
    }

    struct ByteLevelFixture: Decodable {
        struct Token: Decodable {
            var text: String
            var type: Int
        }
        struct Vocabulary: Decodable {
            var extra: [Token]
            var merges: [String]
            var more: [Entry]
        }
        struct PreTokenized: Decodable {
            /// Pre-tokenizer names (nil: no `tokenizer.ggml.pre`) on which llama.cpp gave these ids.
            var pre: [String?]
            var cases: [Case]
        }
        var generator: Generator
        var byte_level: Vocabulary
        var vocabularies: [PreTokenized]
    }

    struct SentencePieceFixture: Decodable {
        struct Piece: Decodable {
            var text: String
            var score: Float
        }
        struct Vocabulary: Decodable {
            var pieces: [Piece]
            var byte_fallback: Bool
        }
        struct Variant: Decodable {
            var name: String
            var more: [Entry]
            var cases: [Case]
        }
        var generator: Generator
        var sentencepiece: Vocabulary
        var vocabularies: [Variant]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = fixtures.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TestSupport.MissingFixture(description: "fixture missing: \(url.path) (python3 Scripts/record_pretokenizer_goldens.py)")
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// Tokenizes every case; reports the first few differences one by one, and returns the number
    /// of cases that differ.
    static func check(_ tokenizer: Tokenizer, _ cases: [Case], _ label: String) -> Int {
        var differing = 0
        for c in cases {
            let ids = tokenizer.encode(c.text, addSpecial: c.add_special, parseSpecial: c.parse_special)
            guard ids != c.ids else { continue }
            differing += 1
            if differing <= 5 {
                Issue.record("""
                    \(label): \(c.text.debugDescription) (add_special \(c.add_special), parse_special \(c.parse_special)) \
                    gives \(ids), llama.cpp \(c.ids)
                    """)
            }
        }
        return differing
    }

    @Test func byteLevelPreTokenizersMatchLlamaCpp() throws {
        let fixture = try Self.load("pretokenizer_goldens.json", as: ByteLevelFixture.self)
        let vocabulary = fixture.byte_level
        let extra = try vocabulary.extra.map { token throws -> (text: String, type: TokenType) in
            guard let type = TokenType(rawValue: token.type) else {
                throw TestSupport.MissingFixture(description: "unknown token type \(token.type)")
            }
            return (token.text, type)
        }
        let more = try vocabulary.more.map { try $0.metadata() }
        var names = 0
        for group in fixture.vocabularies {
            #expect(group.cases.count >= 100)
            for pre in group.pre {
                let tokenizer = try TinyVocabularies.byteLevel(extra: extra, merges: vocabulary.merges, pre: pre, more: more)
                let differing = Self.check(tokenizer, group.cases, "pre \(pre ?? "(missing)")")
                #expect(differing == 0, "pre \(pre ?? "(missing)"): \(differing) of \(group.cases.count) cases differ from llama.cpp \(fixture.generator.llama_cpp_python)")
                names += 1
            }
        }
        // Every name PreTokenizer accepts, and the missing key.
        #expect(names == 36)
    }

    @Test func sentencePieceMatchesLlamaCpp() throws {
        let fixture = try Self.load("sentencepiece_goldens.json", as: SentencePieceFixture.self)
        let pieces = fixture.sentencepiece.pieces.map { (text: $0.text, score: $0.score) }
        #expect(fixture.vocabularies.count == 2)
        for variant in fixture.vocabularies {
            let tokenizer = try TinyVocabularies.sentencePiece(
                pieces: pieces, byteFallback: fixture.sentencepiece.byte_fallback, more: variant.more.map { try $0.metadata() })
            #expect(variant.cases.count >= 100)
            let differing = Self.check(tokenizer, variant.cases, "SentencePiece \(variant.name)")
            #expect(differing == 0, "SentencePiece \(variant.name): \(differing) of \(variant.cases.count) cases differ from llama.cpp")
        }
    }
}
