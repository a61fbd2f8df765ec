import ArgumentParser
import ModelHub

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Fetch a known model into the model store.")

    @Argument(help: "Model name (default: \(ModelRegistry.defaultModel.name)).")
    var name: String?

    @Flag(help: "List the known models and where they are stored.")
    var list = false

    func run() throws {
        let store = ModelStore.fromEnvironment()
        if list {
            for m in ModelRegistry.models {
                Terminal.stdout("\(m.name)\t\(m.source)\t\(store.isPresent(m) ? store.path(for: m).path : "(not downloaded)")\n")
            }
            return
        }
        let spec = name ?? ModelRegistry.defaultModel.name
        guard let model = ModelRegistry.model(named: spec) else { throw ModelHubError.unknownModel(spec) }
        if store.isPresent(model) {
            Terminal.error("\(model.name) is already at \(store.path(for: model).path)")
            return
        }
        try ModelDownloader(store: store).pull(model)
    }
}
