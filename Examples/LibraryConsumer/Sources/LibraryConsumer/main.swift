import Engine
import Foundation
import GGUF
import Kernels
import ModelHub
import Models
import Tokenization

// Peregrine in process: the default model (fetched on first use), one chat request streamed
// through `AsyncLLMEngine`, then llama-bench's pp512 and tg128 straight through the model.
//
//   swift run -c release LibraryConsumer [--threads N] [--repetitions R] [--no-bench]
let arguments = CommandLine.arguments
func option(_ name: String) -> Int? { arguments.firstIndex(of: name).flatMap { Int(arguments[$0 + 1]) } }
let threads = option("--threads") ?? ProcessInfo.processInfo.activeProcessorCount
let repetitions = option("--repetitions") ?? 3

let path = try ModelStore.fromEnvironment().resolve(nil).path
let file = try GGUFFile(path: path)
let tokenizer = try Tokenizer(metadata: file.metadata)
let model = try ModelArchitectures.load(file: file, pool: ThreadPool(threadCount: threads))
let engine = AsyncLLMEngine(engine: try LLMEngine(model: model, tokenizer: tokenizer, config: EngineConfig()))

let start = Date()
var text = "", tokens = 0
let stream = try engine.generate(.chat([ChatMessage(role: "user", content: "Name three birds of prey.")]),
                                 params: .greedy(maxTokens: 48))
for try await output in stream {
    for piece in output.outputs {
        text += piece.text
        tokens += piece.tokenIds.count
    }
}
print(text)
print(String(format: "generated %d tokens through AsyncLLMEngine in %.2f s", tokens, Date().timeIntervalSince(start)))
engine.shutdown()

if !arguments.contains("--no-bench") {
    let result = LatencyBenchmark(model: model).run(repetitions: repetitions)
    print(String(format: "pp512 %.1f tokens/s, tg128 %.1f tokens/s (%d threads)", result.promptTokensPerSecond,
                 result.generationTokensPerSecond, threads))
}
