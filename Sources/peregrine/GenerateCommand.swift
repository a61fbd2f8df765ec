import ArgumentParser
import Engine
import Foundation
import Tokenization

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text from a prompt, streaming it as it is produced.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var expertParallelOptions: ExpertParallelOptions

    @Option(name: .shortAndLong, help: "Raw text prompt (no chat template).")
    var prompt: String?

    @Option(help: "A user message, sent through the model's chat template.")
    var chat: String?

    @Option(help: "A Jinja chat template file used instead of the model's own (needed to chat with a base model).")
    var chatTemplate: String?

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

    @Flag(help: "Print the prompt's token ids on stderr before generating.")
    var verbosePrompt = false

    func validate() throws {
        guard (prompt == nil) != (chat == nil) else { throw ValidationError("give exactly one of --prompt or --chat") }
    }

    func run() throws {
        let params = SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed,
                                    maxTokens: maxTokens, ignoreEOS: ignoreEOS)
        try params.validate()
        let loaded = try LoadedModel(modelOptions, expertParallel: expertParallelOptions)
        let template = try chatTemplate.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        let engine = try LLMEngine(model: loaded.model, tokenizer: loaded.tokenizer, config: try engineOptions.config(maxNumSeqs: 1, loaded: loaded),
                                   chatTemplate: template)
        let prompt: PromptInput = chat.map { .chat([.user($0)]) } ?? .text(self.prompt ?? "")
        let requests = try engine.inputProcessor.process(prompt, params: params)
        if verbosePrompt { Terminal.error("prompt token ids: " + requests[0].promptTokenIds.map(String.init).joined(separator: ",")) }
        try engine.add(requests)
        if let text = self.prompt { Terminal.stdout(text) }
        var final: RequestOutput?
        while engine.hasUnfinishedRequests {
            for output in engine.step() {
                for piece in output.outputs { Terminal.stdout(piece.text) }
                if output.finished { final = output }
            }
        }
        Terminal.stdout("\n")
        engine.close()
        guard let final, let m = final.metrics, let first = m.firstTokenTime, let scheduled = m.firstScheduledTime else { return }
        let promptTokens = final.promptTokenIds.count
        let promptSeconds = first - scheduled
        let decodeSeconds = m.finishedTime - first
        Terminal.error(String(format: "load %.2f s | prompt %d tokens, %.1f tokens/s | generated %d tokens, %.1f tokens/s | finish: %@",
                              loaded.seconds, promptTokens, Double(promptTokens) / max(promptSeconds, 1e-9), m.numGeneratedTokens,
                              Double(max(m.numGeneratedTokens - 1, 0)) / max(decodeSeconds, 1e-9),
                              final.outputs.last?.finishReason?.rawValue ?? "?"))
    }
}
