import Foundation
import GGUF
import TestSupport
import Testing

/// The `peregrine` executable end to end: output formats, exit codes, one-line errors.
@Suite(.serialized) struct CLITests {
    @Test func tokenizeJSONMatchesLlamaCpp() throws {
        let r = try PeregrineBinary.run(["tokenize", "--json", "The capital of France is"])
        #expect(r.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["ids"] as? [Int] == [504, 3575, 282, 4649, 314])
        #expect(object?["count"] as? Int == 5)
    }

    @Test func greedyGenerateStreamsLlamaCppText() throws {
        let r = try PeregrineBinary.run(["generate", "--prompt", "The capital of France is", "--temperature", "0", "--max-tokens", "3", "--threads", "2"])
        #expect(r.status == 0)
        #expect(r.stdout == "The capital of France is Paris.\n\n")
        #expect(r.stderr.contains("prompt 5 tokens") && r.stderr.contains("generated 3 tokens"))
    }

    @Test func perplexityJSON() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ppl-\(UUID()).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40).write(to: file, atomically: true, encoding: .utf8)
        let r = try PeregrineBinary.run(["perplexity", "--file", file.path, "--ctx", "128", "--json"])
        #expect(r.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let ppl = try #require(object?["ppl"] as? Double)
        #expect(ppl > 1 && ppl < 3)  // a repeated sentence is easy to predict
        #expect(object?["tokens_scored"] as? Int == (object?["chunks"] as? Int ?? 0) * 63)
    }

    /// `bench structured` without generation runs: compile times, the first request's cost along a
    /// sampled instance of each schema, and the instances' tokens written out for other engines.
    @Test func structuredBenchCompilesAndSamplesTheCorpus() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try PeregrineBinary.run(["bench", "structured", "--batch-sizes", "", "--samples-out", out.path,
                                         "--schemas", TestPaths.packageRoot.appendingPathComponent("Benchmarks/structured/schemas.jsonl").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("compile: 57 of 66 schemas compiled"))
        #expect(r.stdout.contains("first use (compile + every mask filled"))
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 57)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["name"] is String && object["schema"] is [String: Any])
            #expect(((object["tokens"] as? [Any])?.count ?? 0) > 0)
        }
    }

    @Test func errorsAreOneLineWithNonZeroExit() throws {
        let dir = FileManager.default.temporaryDirectory
        let notGGUF = dir.appendingPathComponent("not-\(UUID()).gguf")
        try Data("hello world".utf8).write(to: notGGUF)
        defer { try? FileManager.default.removeItem(at: notGGUF) }
        let truncated = dir.appendingPathComponent("trunc-\(UUID()).gguf")
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: truncated)
        defer { try? FileManager.default.removeItem(at: truncated) }
        let cases: [([String], String)] = [
            (["generate", "--model", notGGUF.path, "--prompt", "x"], "is not a GGUF file"),
            (["generate", "--model", "/no/such/model.gguf", "--prompt", "x"], "no such file"),
            (["inspect", truncated.path], "truncated"),
            (["generate", "--model", "no-such-name", "--prompt", "x"], "unknown model"),
            (["generate", "--prompt", "x", "--top-p", "0"], "top_p"),
            (["generate"], "exactly one of --prompt or --chat"),
        ]
        for (args, message) in cases {
            let r = try PeregrineBinary.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.contains("See '") && !$0.isEmpty }
            #expect(lines.count == 1, "\(args): \(r.stderr)")
        }
    }

    @Test func inspectPrintsMetadataAndTensors() throws {
        let r = try PeregrineBinary.run(["inspect"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("general.architecture = \"llama\""))
        #expect(r.stdout.contains("blk.0.attn_q.weight") && r.stdout.contains("Q4_1"))
    }

    /// Gemma 3 270M is a base model: chat is a clear one-line error until a template is given.
    @Test func baseModelChatNeedsATemplate() throws {
        let refused = try PeregrineBinary.run(["generate", "--model", "gemma3-270m", "--chat", "Hi", "--max-tokens", "2", "--threads", "2"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("no chat template") && refused.stderr.contains("--chat-template"), "\(refused.stderr)")
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("template-\(UUID()).jinja")
        defer { try? FileManager.default.removeItem(at: template) }
        try "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}".write(to: template, atomically: true, encoding: .utf8)
        let chat = try PeregrineBinary.run(["generate", "--model", "gemma3-270m", "--chat", "The capital of France is", "--chat-template", template.path,
                                 "--temperature", "0", "--max-tokens", "4", "--threads", "2"])
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stderr.contains("prompt 6 tokens"), "\(chat.stderr)")
    }

    @Test func inspectShowsTheLayerPattern() throws {
        let r = try PeregrineBinary.run(["inspect", "gemma3-270m"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("layer pattern (G global, S sliding): SSSSSGSSSSSGSSSSSG"))
        #expect(r.stdout.contains("sliding window 512 on layers 0,1,2,3,4,6,"), "\(r.stdout.prefix(3000))")
        #expect(r.stdout.contains("rope base 10000.0") && r.stdout.contains("rope base 1000000.0"))
    }
}
