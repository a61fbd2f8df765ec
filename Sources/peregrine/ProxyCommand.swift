import ArgumentParser
import Logging
import Server
import ServiceLifecycle

/// `peregrine proxy`: the front end of disaggregated serving.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "OpenAI-compatible front end for prefill/decode disaggregation (vLLM's disaggregated proxy).",
        discussion: """
            Each completion goes to a prefill instance (`serve --kv-transfer-config '{"kv_connector":"TCPConnector","kv_role":"kv_producer"}'`) \
            with max_tokens 1, which pushes the prompt's KV, layer by layer as it computes it, to a decode instance \
            (`{"kv_connector":"TCPConnector","kv_role":"kv_consumer","kv_port":N}`); the decode instance's answer, streamed or not, \
            goes back to the client. Instances are balanced by outstanding requests and health-checked; the client's \
            Authorization header is passed through.
            """)

    @Option(help: "Prefill instances' base URLs, comma-separated (http://host:port).")
    var prefill: String

    @Option(help: "Decode instances' base URLs, comma-separated.")
    var decode: String

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8000

    func validate() throws {
        if urls(prefill).isEmpty || urls(decode).isEmpty { throw ValidationError("--prefill and --decode each need at least one URL") }
        for url in urls(prefill) + urls(decode) where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("'\(url)' is not an http:// URL")
        }
    }

    private func urls(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let logger = Logger(label: "peregrine.proxy")
        let proxy = DisaggregatedProxy(prefill: urls(prefill), decode: urls(decode), host: host, port: port, logger: logger)
        logger.info("Proxy on \(host):\(port): prefill \(proxy.prefill.map(\.url)), decode \(proxy.decode.map(\.url))")
        let group = ServiceGroup(configuration: .init(services: [proxy], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
