import Foundation
import Transport

/// Expert workers the front starts itself (`--expert-parallel-size P`): P child processes of the
/// same executable (`peregrine expert-worker`), each listening on a Unix-domain socket of its own
/// and leaving when the front's link ends.
public final class ExpertWorkerProcesses: @unchecked Sendable {
    public let addresses: [TransportAddress]
    private let processes: [Process]
    private let directory: URL

    /// Starts `count` workers of `executable` for the model at `modelPath`, each with `threads`
    /// threads (pinned to no core: use `taskset` on the front to pin the whole group).
    public init(count: Int, executable: URL, modelPath: String, threads: Int) throws {
        let parent = FileManager.default.temporaryDirectory
        StaleWorkerDirectories.remove(in: parent)
        directory = parent.appendingPathComponent("\(StaleWorkerDirectories.prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var addresses: [TransportAddress] = []
        var processes: [Process] = []
        for r in 0..<count {
            let socket = directory.appendingPathComponent("rank\(r).sock").path
            let process = Process()
            process.executableURL = executable
            process.arguments = ["expert-worker", "--model", modelPath, "--listen", "unix:\(socket)", "--threads", "\(threads)",
                                 "--exit-when-detached"]
            do { try process.run() } catch {
                for started in processes { started.terminate() }
                throw error
            }
            processes.append(process)
            addresses.append(.unix(path: socket))
        }
        self.addresses = addresses
        self.processes = processes
    }

    deinit { terminate() }

    /// Process ids of the workers, by rank.
    public var processIdentifiers: [Int32] { processes.map(\.processIdentifier) }

    /// Stops every worker still running and removes their sockets.
    public func terminate() {
        for process in processes where process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: directory)
    }
}
