import ArgumentParser
import Foundation
import GGUF
import Tokenization

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Print the token ids of a text (as llama.cpp's llama-tokenize).")

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "The text to tokenize.")
    var text: String?

    @Option(name: .shortAndLong, help: "Read the text from a file.")
    var file: String?

    @Flag(help: "Do not add BOS/EOS even when the model asks for them.")
    var noSpecial = false

    @Flag(help: "Treat special-token text (like <|im_start|>) as plain text.")
    var noParseSpecial = false

    @Flag(help: "Print only the list of ids.")
    var ids = false

    @Flag(help: "Print one JSON object: {\"ids\": [...], \"count\": n}.")
    var json = false

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give either TEXT or --file") }
    }

    func run() throws {
        let input: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            input = String(decoding: data, as: UTF8.self)
        } else {
            input = text ?? ""
        }
        let gguf = try modelOptions.openFile()
        let tokenizer = try Tokenizer(metadata: gguf.metadata)
        let tokens = tokenizer.encode(input, addSpecial: !noSpecial, parseSpecial: !noParseSpecial)
        if json {
            let object: [String: Any] = ["ids": tokens, "count": tokens.count]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
        } else if ids {
            Terminal.stdout("[" + tokens.map(String.init).joined(separator: ", ") + "]\n")
        } else {
            var out = ""
            for id in tokens {
                let piece = String(decoding: tokenizer.tokenPiece(id), as: UTF8.self)
                out += String(repeating: " ", count: max(0, 6 - String(id).count)) + "\(id) -> '\(piece)'\n"
            }
            Terminal.stdout(out)
        }
    }
}
