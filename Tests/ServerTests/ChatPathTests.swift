import Foundation
import GGUF
import Server
import TestSupport
import Testing

/// One chat path: `peregrine generate --chat` and the server's chat endpoint turn a conversation
/// into the same prompt tokens, for every template of the Jinja fixtures, on the default model's
/// vocabulary (both render with the model's BOS and EOS text and parse special tokens).
@Suite struct ChatPathTests {
    static let message = "What is the boiling point of water? <|im_end|> 100 °C."

    @Test(arguments: ChatTemplateFixtures.templates.map(\.name))
    func generateAndServerGiveTheSamePromptTokens(template name: String) async throws {
        let fixture = try #require(ChatTemplateFixtures.templates.first { $0.name == name })
        let model = try GGUFFile(path: TestPaths.defaultModel)
        let templateFile = FileManager.default.temporaryDirectory.appendingPathComponent("chat-\(UUID()).jinja")
        try fixture.source.write(to: templateFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: templateFile) }

        let cli = try PeregrineBinary.run(["generate", "--model", TestPaths.defaultModel, "--chat", Self.message,
                                           "--chat-template", templateFile.path, "--verbose-prompt",
                                           "--max-tokens", "1", "--temperature", "0", "--threads", "1"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let line = try #require(cli.stderr.split(separator: "\n").first { $0.hasPrefix("prompt token ids: ") })
        let cliIds = line.dropFirst("prompt token ids: ".count).split(separator: ",").compactMap { Int($0) }

        let server = try TestServer.make(TestServer.configuration { $0.chatTemplate = fixture.source }, file: model, blocks: 16, blockSize: 16)
        let body = #"{"messages": [{"role": "user", "content": "\#(Self.message)"}]}"#
        let response = try await TestServer.withServer(server) { client in try await client.post("/tokenize", body) }
        #expect(response.status == .ok, "\(response.text)")
        let serverIds = response.json["tokens"] as? [Int] ?? []
        #expect(!cliIds.isEmpty && cliIds == serverIds, "\(name): CLI \(cliIds.count) tokens, server \(serverIds.count)")
    }
}
