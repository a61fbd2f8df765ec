import Foundation
import Synchronization
import Testing
@testable import KVTransfer

/// The disk tier's store: blocks survive reopening, the store stays under its limit by LRU,
/// and a file of another model, a truncated or a corrupt file is never loaded.
@Suite struct KVBlockStoreTests {
    static let identity = KVStoreIdentity(model: "model-a", dtype: "f16", blockSize: 4, bytesPerBlock: 256, numGroups: 2)

    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("kvstore-\(UUID().uuidString)")
    }

    static func payload(_ seed: UInt8) -> [UInt8] { (0..<512).map { UInt8(truncatingIfNeeded: Int($0) &* 31 &+ Int(seed)) } }

    static func key(_ i: UInt64) -> KVBlockKey { KVBlockKey(high: i &* 0x9E37_79B9_7F4A_7C15, low: i) }

    static func write(_ store: KVBlockStore, _ i: UInt64) throws {
        try payload(UInt8(i)).withUnsafeBytes { try store.write(key(i), tokens: [Int(i), 2, 3, 4], payload: $0) }
    }

    static func read(_ store: KVBlockStore, _ i: UInt64) -> [UInt8]? {
        var out: [UInt8]?
        let ok = store.read(key(i), tokens: [Int(i), 2, 3, 4][...]) { out = Array($0) }
        return ok ? out : nil
    }

    final class Warnings: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func callAsFunction(_ line: String) { lines.withLock { $0.append(line) } }
    }

    @Test func blocksSurviveReopening() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: Self.identity)
        for i in UInt64(1)...5 { try Self.write(store, i) }
        #expect(Self.read(store, 3) == Self.payload(3))
        let reopened = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: Self.identity)
        #expect(reopened.counts.blocks == 5)
        for i in UInt64(1)...5 { #expect(Self.read(reopened, i) == Self.payload(UInt8(i))) }
        #expect(Self.read(reopened, 9) == nil)
        // The tokens are checked too: a key with other tokens (a hash collision) is not served.
        #expect(!reopened.read(Self.key(2), tokens: [7, 7, 7, 7][...]) { _ in })
    }

    @Test func leastRecentlyUsedBlocksGoFirst() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fileBytes = KVBlockFile.headerBytes + 16 + 512 + KVBlockFile.digestBytes
        let store = try KVBlockStore(directory: dir, maxBytes: fileBytes * 4, identity: Self.identity)
        for i in UInt64(1)...4 { try Self.write(store, i) }
        _ = Self.read(store, 1)  // 1 is now the most recently used
        try Self.write(store, 5)  // over the limit: evicts down to 90% (two blocks: 2 and 3)
        #expect(store.counts.bytes <= fileBytes * 4)
        #expect(store.contains(Self.key(1)) && store.contains(Self.key(5)))
        #expect(!store.contains(Self.key(2)) && !store.contains(Self.key(3)))
        #expect(store.counts.evicted == 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".kvb") }
        #expect(files.count == store.counts.blocks)
    }

    @Test func corruptTruncatedAndForeignFilesAreNeverLoaded() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: Self.identity)
        for i in UInt64(1)...3 { try Self.write(store, i) }
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil).filter { $0.pathExtension == "kvb" }
        func file(_ i: UInt64) -> URL { files.first { $0.lastPathComponent.hasSuffix("\(Self.key(i)).kvb") }! }
        // One payload byte flipped: the checksum catches it when read.
        var corrupt = try Data(contentsOf: file(1))
        corrupt[KVBlockFile.headerBytes + 16 + 100] ^= 0x40
        try corrupt.write(to: file(1))
        // Cut short: caught when the store opens (the size does not match the header).
        let whole = try Data(contentsOf: file(2))
        try whole.prefix(whole.count - 10).write(to: file(2))
        // Another model's store in the same directory.
        let warnings = Warnings()
        let other = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: KVStoreIdentity(
            model: "model-b", dtype: "f16", blockSize: 4, bytesPerBlock: 256, numGroups: 2), warn: { warnings($0) })
        #expect(other.counts.blocks == 0)
        #expect(warnings.all.contains { $0.contains("belong to another model") })

        let reopenedWarnings = Warnings()
        let reopened = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: Self.identity, warn: { reopenedWarnings($0) })
        #expect(reopened.counts.blocks == 2)  // the truncated file is dropped at once
        #expect(Self.read(reopened, 1) == nil)
        #expect(Self.read(reopened, 3) == Self.payload(3))
        #expect(reopened.counts.blocks == 1 && reopened.counts.rejected == 2)
        #expect(reopenedWarnings.all.contains { $0.contains("checksum") })
        #expect(!FileManager.default.fileExists(atPath: file(1).path) && !FileManager.default.fileExists(atPath: file(2).path))
        // A file renamed to another key is caught by its header.
        try FileManager.default.copyItem(at: file(3), to: dir.appendingPathComponent(file(3).lastPathComponent.replacingOccurrences(of: "\(Self.key(3))", with: "\(Self.key(4))")))
        let again = try KVBlockStore(directory: dir, maxBytes: 1 << 20, identity: Self.identity)
        #expect(again.counts.blocks == 1 && again.counts.rejected == 1)
    }
}
