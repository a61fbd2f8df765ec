import Foundation
import Synchronization

/// A directory of KV blocks on disk, one file per block (``KVBlockFile``), named after the
/// store identity and the block key, kept under a byte limit by evicting the least recently used.
///
/// The index is rebuilt from the directory when the store opens, so blocks survive restarts. A
/// file is trusted only after its whole content checks out (identity, key, tokens, SHA-256):
/// a file of another model, a truncated or a corrupt one is reported, removed when it carries
/// this store's name, and never loaded. Thread-safe.
public final class KVBlockStore: Sendable {
    public let directory: URL
    public let maxBytes: Int
    public let identity: KVStoreIdentity
    let fingerprint: UInt64
    private let prefix: String
    private let state: Mutex<State>
    private let warn: @Sendable (String) -> Void

    private struct Entry {
        var bytes: Int
        var lastUse: UInt64
    }

    private struct State {
        var index: [KVBlockKey: Entry] = [:]
        var totalBytes = 0
        var tick: UInt64 = 0
        var evicted = 0
        var rejected = 0
    }

    /// Opens (creating it if needed) the store in `directory`.
    ///
    /// - Parameter warn: receives one line per problem found (files of another model, unreadable files).
    public init(directory: URL, maxBytes: Int, identity: KVStoreIdentity, warn: @escaping @Sendable (String) -> Void = { _ in }) throws(KVStoreError) {
        guard maxBytes > 0 else { throw .invalid("max_bytes must be positive") }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .invalid("cannot create the KV store directory \(directory.path): \(error.localizedDescription)")
        }
        self.directory = directory
        self.maxBytes = maxBytes
        self.identity = identity
        self.warn = warn
        fingerprint = identity.fingerprint
        prefix = Self.hex(fingerprint) + "-"
        state = Mutex(State())
        scan()
    }

    /// Blocks and bytes held now, files evicted and files rejected so far.
    public var counts: (blocks: Int, bytes: Int, evicted: Int, rejected: Int) {
        state.withLock { ($0.index.count, $0.totalBytes, $0.evicted, $0.rejected) }
    }

    /// Whether the store holds `key` (its content is checked only when read).
    public func contains(_ key: KVBlockKey) -> Bool { state.withLock { $0.index[key] != nil } }

    /// Reads block `key`, checks it against `tokens` and the store's identity, and hands its
    /// payload (``KVStoreIdentity/numGroups`` × ``KVStoreIdentity/bytesPerBlock`` bytes) to
    /// `body`. A missing or bad file gives false (a bad one is removed and reported).
    public func read(_ key: KVBlockKey, tokens: ArraySlice<Int>, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard state.withLock({ $0.index[key] != nil }) else { return false }
        let url = fileURL(key)
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else {
            drop(key, url: url, why: "unreadable")
            return false
        }
        let payloadBytes = identity.numGroups * identity.bytesPerBlock
        let result: Result<Void, KVBlockFile.Rejection> = data.withUnsafeBytes { bytes in
            do throws(KVBlockFile.Rejection) {
                let start = try KVBlockFile.validate(bytes, fingerprint: fingerprint, key: key, tokens: tokens,
                                                     numGroups: identity.numGroups, payloadBytes: payloadBytes)
                body(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + payloadBytes)]))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success:
            state.withLock { s in
                s.tick += 1
                s.index[key]?.lastUse = s.tick
            }
            // The modification time orders blocks by use across restarts.
            try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: url.path)
            return true
        case .failure(let why):
            drop(key, url: url, why: why.description)
            return false
        }
    }

    /// Stores block `key` (written to a temporary file, then renamed into place), then evicts the
    /// least recently used blocks while the store is over its limit.
    public func write(_ key: KVBlockKey, tokens: [Int], payload: UnsafeRawBufferPointer) throws(KVStoreError) {
        let data = KVBlockFile.encode(fingerprint: fingerprint, key: key, tokens: tokens, numGroups: identity.numGroups, payload: payload)
        let url = fileURL(key)
        let temporary = directory.appendingPathComponent(".\(prefix)\(key)-\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw KVStoreError.io("rename failed (errno \(errno))") }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .io("cannot write \(url.lastPathComponent): \(error.localizedDescription)")
        }
        let victims: [KVBlockKey] = state.withLock { s in
            s.tick += 1
            s.totalBytes += data.count - (s.index[key]?.bytes ?? 0)
            s.index[key] = Entry(bytes: data.count, lastUse: s.tick)
            guard s.totalBytes > maxBytes else { return [] }
            // Evict down to 90% of the limit at once, so writes near the limit do not sort every time.
            var out: [KVBlockKey] = []
            var bytes = s.totalBytes
            for (k, e) in s.index.sorted(by: { $0.value.lastUse < $1.value.lastUse }) where bytes > maxBytes * 9 / 10 && k != key {
                out.append(k)
                bytes -= e.bytes
            }
            for k in out { s.totalBytes -= s.index.removeValue(forKey: k)?.bytes ?? 0 }
            s.evicted += out.count
            return out
        }
        for k in victims { try? FileManager.default.removeItem(at: fileURL(k)) }
    }

    private func fileURL(_ key: KVBlockKey) -> URL { directory.appendingPathComponent("\(prefix)\(key).kvb") }

    private func drop(_ key: KVBlockKey, url: URL, why: String) {
        warn("KV store: ignoring \(url.lastPathComponent): \(why)")
        try? FileManager.default.removeItem(at: url)
        state.withLock { s in
            s.totalBytes -= s.index.removeValue(forKey: key)?.bytes ?? 0
            s.rejected += 1
        }
    }

    /// Builds the index from the directory: this store's files whose header and size check out,
    /// ordered by modification time. Files of other stores (another model) are left alone.
    private func scan() {
        let keys: [URLResourceKey] = [.contentModificationDateKey, .fileSizeKey]
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: keys)) ?? []
        var found: [(KVBlockKey, Int, Date)] = []
        var foreign = 0, rejected = 0
        for url in files where url.pathExtension == "kvb" {
            let name = url.lastPathComponent
            guard name.hasPrefix(prefix) else {
                foreign += 1
                continue
            }
            let values = try? url.resourceValues(forKeys: Set(keys))
            guard let header = Self.readHeader(url) else {
                rejected += 1
                warn("KV store: ignoring \(name): not a readable store file")
                try? FileManager.default.removeItem(at: url)
                continue
            }
            guard header.fingerprint == fingerprint, header.numGroups == identity.numGroups,
                  header.payloadBytes == identity.numGroups * identity.bytesPerBlock,
                  name == "\(prefix)\(header.key).kvb", header.fileBytes == values?.fileSize else {
                rejected += 1
                warn("KV store: ignoring \(name): its header does not match its name, size or this model")
                try? FileManager.default.removeItem(at: url)
                continue
            }
            found.append((header.key, header.fileBytes, values?.contentModificationDate ?? .distantPast))
        }
        if foreign > 0 { warn("KV store: \(foreign) file(s) in \(directory.path) belong to another model or cache layout; ignored") }
        found.sort { $0.2 < $1.2 }
        state.withLock { s in
            for (key, bytes, _) in found {
                s.tick += 1
                s.index[key] = Entry(bytes: bytes, lastUse: s.tick)
                s.totalBytes += bytes
            }
            s.rejected += rejected
        }
    }

    private static func readHeader(_ url: URL) -> KVBlockFile.Header? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: KVBlockFile.headerBytes) else { return nil }
        return data.withUnsafeBytes { try? KVBlockFile.header($0) }
    }

    static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A KV store that cannot be opened or written.
public enum KVStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalid(let why), .io(let why): why
        }
    }
}
