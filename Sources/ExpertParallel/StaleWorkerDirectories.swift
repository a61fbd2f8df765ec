import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket directories (`peregrine-ep-<pid>-<random>`) of fronts that are gone. A front
/// removes its own when it stops, and its workers remove theirs when the link ends, but a front
/// killed together with its workers (SIGKILL to the group, a crash) leaves it. The next front
/// removes such directories as it starts. Whether a front is gone is judged by its process id in
/// this process's namespace: fronts in other pid namespaces that share the temporary folder should
/// each get their own (`TMPDIR`).
enum StaleWorkerDirectories {
    static let prefix = "peregrine-ep-"

    /// Removes every directory in `parent` named for a process that no longer exists; returns
    /// their names. A directory whose process id is in use again is left alone.
    @discardableResult
    static func remove(in parent: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        var removed: [String] = []
        for name in names {
            guard let pid = ownerProcess(of: name), !isRunning(pid) else { continue }
            if (try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        return removed
    }

    /// The front's process id in a directory name of this form, else nil.
    static func ownerProcess(of name: String) -> pid_t? {
        guard name.hasPrefix(prefix) else { return nil }
        let parts = name.dropFirst(prefix.count).split(separator: "-")
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, UInt32(parts[1]) != nil else { return nil }
        return pid
    }

    /// Whether process `pid` exists (EPERM: it does, under another user).
    static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
