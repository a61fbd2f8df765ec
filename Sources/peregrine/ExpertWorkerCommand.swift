import ArgumentParser
import ExpertParallel
import Foundation
import GGUF
import Kernels
import NIOPosix
import Transport

/// `peregrine expert-worker`: one rank of an expert-parallel MoE model. It holds only the routed
/// experts its front places on it and computes them for the rows each MoE layer sends.
struct ExpertWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expert-worker", abstract: "Serve the routed experts placed on this rank to the front of an expert-parallel model.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Where to listen for the front: HOST:PORT or unix:PATH.", valueName: "address"))
    var listen: String

    @Flag(help: "Exit when the front's link ends (workers the front starts itself).")
    var exitWhenDetached = false

    func validate() throws {
        guard TransportAddress(parsing: listen) != nil else { throw ValidationError("--listen: '\(listen)' is not HOST:PORT or unix:PATH") }
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let worker = try ExpertWorker(file: file, pool: ThreadPool(threadCount: try modelOptions.threadCount()))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let exits = exitWhenDetached, address = TransportAddress(parsing: listen)!
        let server = try worker.serve(at: address, group: group) {
            guard exits else { return }
            // A worker its front started leaves nothing behind: its socket, and their folder once empty.
            if case .unix(let path) = address {
                try? FileManager.default.removeItem(atPath: path)
                rmdir((path as NSString).deletingLastPathComponent)
            }
            Foundation.exit(0)
        }
        Terminal.error("expert worker: listening on \(listen)")
        withExtendedLifetime(server) {
            while true { sleep(3600) }
        }
    }
}
