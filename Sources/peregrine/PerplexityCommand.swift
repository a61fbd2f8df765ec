import ArgumentParser
import Engine
import Foundation
import Kernels

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file with llama.cpp's protocol (chunks of --ctx tokens, second half scored).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The text file to score.")
    var file: String

    @Option(help: "Tokens per chunk.")
    var ctx = 512

    @Option(help: "Score at most this many chunks.")
    var chunks: Int?

    @Option(help: "KV cache element type: f16, bf16 or f32.")
    var kvCacheDtype = KVPrecision.float16

    @Flag(help: "Print one JSON object: ppl, chunks, tokens scored.")
    var json = false

    func validate() throws {
        guard ctx >= 4 else { throw ValidationError("--ctx must be at least 4") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let loaded = try LoadedModel(modelOptions, showProgress: !json)
        guard ctx <= loaded.model.config.contextLength else {
            throw ValidationError("--ctx \(ctx) exceeds the model's context length \(loaded.model.config.contextLength)")
        }
        // As llama-perplexity: the text is tokenized whole with BOS (for models that add one), and
        // each chunk's first token then becomes BOS.
        let tokens = loaded.tokenizer.encode(String(decoding: data, as: UTF8.self), addSpecial: true, parseSpecial: false)
        let addsBOS = loaded.tokenizer.vocabulary.addBOS
        let evaluator = PerplexityEvaluator(model: loaded.model, contextLength: ctx,
                                            bosTokenID: addsBOS ? loaded.tokenizer.bosTokenId : nil, kvCacheDtype: kvCacheDtype)
        let available = evaluator.chunkCount(tokenCount: tokens.count)
        guard available > 0 else { throw ValidationError("the file has \(tokens.count) tokens, fewer than one chunk of \(ctx)") }
        let start = Date()
        if !json { Terminal.error("\(tokens.count) tokens, \(available) chunks of \(ctx)") }
        let result = evaluator.evaluate(tokens: tokens, maxChunks: chunks) { partial in
            if !json { Terminal.error(String(format: "[%d] %.4f", partial.chunks, partial.perplexity)) }
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            let object: [String: Any] = ["ppl": result.perplexity, "chunks": result.chunks, "tokens_scored": result.tokensScored,
                                         "tokens": tokens.count, "ctx": ctx, "seconds": seconds]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            Terminal.stdout(String(format: "perplexity %.4f over %d chunks (%d tokens scored), %.1f s, %.0f tokens/s\n",
                                   result.perplexity, result.chunks, result.tokensScored, seconds,
                                   Double(result.chunks * ctx) / seconds))
        }
    }
}
