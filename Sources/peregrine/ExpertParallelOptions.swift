import ArgumentParser
import ExpertParallel
import Foundation
import GGUF
import Models
import NIOPosix
import Transport

/// `--expert-parallel-size` and friends: the routed experts of an MoE model on expert workers.
struct ExpertParallelOptions: ParsableArguments {
    @Option(help: "MoE models: run the routed experts on this many expert worker processes, started here (each holds only the experts placed on it).")
    var expertParallelSize: Int?

    @Option(help: ArgumentHelp("Attach running expert workers (`peregrine expert-worker --listen ADDR`) instead of starting them: a comma-separated list of HOST:PORT or unix:PATH, one per rank.",
                               valueName: "addresses"))
    var expertWorkers: String?

    @Option(help: "Threads of each expert worker started here (default: 1).")
    var expertWorkerThreads = 1

    @Option(help: "Seconds an expert worker may take over one layer's rows before the step's requests fail.")
    var expertTimeout = 10.0

    @Flag(help: "Split each batch of two or more sequences in two and run one half's attention while the other's experts compute (SGLang's two-batch overlap).")
    var enableTwoBatchOverlap = false

    func validate() throws {
        if expertParallelSize != nil && expertWorkers != nil { throw ValidationError("give --expert-parallel-size or --expert-workers, not both") }
        if let p = expertParallelSize, !(1...64).contains(p) { throw ValidationError("--expert-parallel-size must be between 1 and 64") }
        guard (1...1024).contains(expertWorkerThreads) else { throw ValidationError("--expert-worker-threads must be between 1 and 1024") }
        guard expertTimeout > 0 else { throw ValidationError("--expert-timeout must be positive") }
        _ = try addresses()
    }

    var isEnabled: Bool { expertParallelSize != nil || expertWorkers != nil }

    func addresses() throws -> [TransportAddress]? {
        guard let expertWorkers else { return nil }
        return try expertWorkers.split(separator: ",").map { part in
            guard let address = TransportAddress(parsing: String(part)) else {
                throw ValidationError("--expert-workers: '\(part)' is not HOST:PORT or unix:PATH")
            }
            return address
        }
    }
}

/// The expert workers of a loaded model and the front's links to them (kept alive with the model).
final class ExpertParallelRuntime: @unchecked Sendable {
    let processes: ExpertWorkerProcesses?
    let remote: RemoteExperts
    private let group: MultiThreadedEventLoopGroup

    /// Starts (or attaches) the workers and sets the model's router dispatcher.
    init(_ options: ExpertParallelOptions, model: any CausalLM, file: GGUFFile, modelPath: String) throws {
        guard let router = model.expertRouter else { throw ValidationError("expert parallelism needs a mixture-of-experts model") }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        if let addresses = try options.addresses() {
            processes = nil
            remote = try Self.connect(addresses, file: file, group: group, options: options)
        } else {
            // This very binary: /proc/self/exe on Linux, the bundle's executable elsewhere.
            let proc = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            let executable = FileManager.default.isExecutableFile(atPath: proc.path) ? proc
                : Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
            let started = try ExpertWorkerProcesses(count: options.expertParallelSize ?? 1, executable: executable, modelPath: modelPath,
                                                    threads: options.expertWorkerThreads)
            processes = started
            do { remote = try Self.connect(started.addresses, file: file, group: group, options: options) } catch {
                started.terminate()
                throw error
            }
        }
        router.dispatcher = remote
        router.overlapsMicroBatches = options.enableTwoBatchOverlap
        do { try remote.place(router.placement) } catch {
            processes?.terminate()
            throw ValidationError("expert parallelism: \(error)")
        }
    }

    private static func connect(_ addresses: [TransportAddress], file: GGUFFile, group: MultiThreadedEventLoopGroup,
                                options: ExpertParallelOptions) throws -> RemoteExperts {
        do { return try RemoteExperts(connecting: addresses, file: file, group: group, deadline: options.expertTimeout) } catch {
            throw ValidationError("expert parallelism: \(error)")
        }
    }

    deinit {
        remote.close()
        processes?.terminate()
    }
}
