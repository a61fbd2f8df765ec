import ArgumentParser
import Engine
import Foundation
import Tokenization

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text from a prompt, streaming it as it is produced.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "Raw text prompt (no chat template).")
    var prompt: String?

    @Option(help: "A user message, sent through the model's chat template.")
    var chat: String?

    @Option(help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0.8

    @Option(help: "Top-k sampling (0 = off).")
    var topK = 40

    @Option(help: "Top-p (nucleus) sampling (1 = off).")
    var topP: Float = 0.95

    @Option(help: "Min-p sampling (0 = off).")
    var minP: Float = 0.05

    @Option(help: "Random seed (default: random).")
    var seed: UInt64?

    @Flag(help: "Keep generating past end-of-generation tokens.")
    var ignoreEOS = false

    func validate() throws {
        guard (prompt == nil) != (chat == nil) else { throw ValidationError("give exactly one of --prompt or --chat") }
    }

    func run() throws {
        let params = SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed,
                                    maxTokens: maxTokens, ignoreEOS: ignoreEOS)
        try params.validate()
        let loaded = try LoadedModel(modelOptions)
        let ids: [Int]
        if let chat {
            let template = ChatTemplate(source: loaded.tokenizer.chatTemplate)
            let text = template.render([.user(chat)], addGenerationPrompt: true)
            ids = loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        } else {
            ids = loaded.tokenizer.encode(prompt ?? "", addSpecial: true, parseSpecial: false)
        }
        let generator = TextGenerator(model: loaded.model, tokenizer: loaded.tokenizer)
        if let prompt { Terminal.stdout(prompt) }
        let stats = try generator.generate(prompt: ids, params: params) { text in
            Terminal.stdout(text)
            return true
        }
        Terminal.stdout("\n")
        Terminal.error(String(format: "load %.2f s | prompt %d tokens, %.1f tokens/s | generated %d tokens, %.1f tokens/s | finish: %@",
                              loaded.seconds, stats.promptTokens, stats.promptTokensPerSecond, stats.generatedTokens,
                              stats.generationTokensPerSecond, stats.finishReason.rawValue))
    }
}
