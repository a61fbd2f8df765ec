import Foundation
import Testing
import Tokenization

/// Token ids recorded from llama.cpp on the real model.
@Suite struct GoldenTokenizationTests {
    struct GoldenCase: Decodable {
        var text: String
        var add_special: Bool
        var ids: [Int]
    }

    @Test func encodingMatchesLlamaCpp() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let files = try TestSupport.goldenTokenizeFiles()
        for file in files {
            let golden = try JSONDecoder().decode(GoldenCase.self, from: Data(contentsOf: file))
            let ids = tokenizer.encode(golden.text, addSpecial: golden.add_special, parseSpecial: true)
            #expect(ids == golden.ids, "\(file.lastPathComponent)")
            #expect(tokenizer.decode(ids) == golden.text, "\(file.lastPathComponent)")
        }
    }

    @Test func licenseCorpusGivesLlamaCppTokenCount() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let corpus = try TestSupport.licenseCorpus()
        #expect(corpus.utf8.count == 130_810)
        let clock = ContinuousClock()
        var ids: [Int] = []
        let elapsed = clock.measure { ids = tokenizer.encode(corpus, addSpecial: true, parseSpecial: false) }
        print("license corpus: \(ids.count) tokens in \(elapsed)")
        #expect(ids.count == 28_625)
        #expect(tokenizer.decode(ids) == corpus)
    }
}
