import ArgumentParser

@main
struct Peregrine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peregrine",
        abstract: "An LLM inference engine in Swift: GGUF models on the CPU.",
        subcommands: [GenerateCommand.self, BenchCommand.self, PullCommand.self, InspectCommand.self, TokenizeCommand.self, PerplexityCommand.self, EPLBCommand.self, ServeCommand.self, ProxyCommand.self, ExpertWorkerCommand.self, MakeMoECommand.self],
        defaultSubcommand: nil)
}
