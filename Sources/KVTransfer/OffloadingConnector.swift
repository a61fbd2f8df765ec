import Dispatch
import Foundation
import Models
import Synchronization

/// A second tier for the prefix cache (vLLM's OffloadingConnector, LMCache's local disk
/// backend): every full block an instance computes is saved, asynchronously, to a
/// ``KVBlockStore`` on disk, and a later request, even after a restart, loads the blocks of its
/// prompt that the store holds instead of recomputing them.
///
/// Loads are asynchronous by default: the request waits (holding its blocks, no compute budget)
/// while a loader thread reads and checks each file and writes it into the request's blocks.
/// With `"load_async": false` they are synchronous: the request is scheduled at once with the
/// stored blocks counted as computed, and the step reads them in before its forward pass (no
/// step of waiting; the read is on the step's path). A block that fails its check ends the load
/// there; the engine recomputes from that block on (or fails the request, as configured). Saves copy the step's new blocks out of the cache at the end of
/// the step, and a writer thread stores them.
public final class OffloadingConnector: KVConnector, @unchecked Sendable {
    public let store: KVBlockStore
    public let role: KVTransferConfig.Role
    /// Whether loads run beside the engine (the request waits for them) or inside the step.
    public let loadsAsync: Bool
    let blockSize: Int
    /// Bytes of the writes queued and not yet on disk beyond which new saves are skipped.
    static let maxPendingSaveBytes = 256 << 20

    private let loadQueue = DispatchQueue(label: "peregrine.kv-offload.load")
    private let saveQueue = DispatchQueue(label: "peregrine.kv-offload.save")
    private let shared = Mutex(Shared())
    private let progress = DispatchSemaphore(value: 0)
    /// Scheduler-side state (engine thread only).
    private var pendingLoads: [KVRequestTransfer] = []
    private var lookups: (hits: Int, misses: Int) = (0, 0)

    private struct Shared {
        var loading: Set<String> = []
        /// The first block of each asynchronous load in flight, and its request.
        var loadingFrom: [KVBlockKey: String] = [:]
        /// Requests that finished while their load was in flight: freed when it ends.
        var abandoned: Set<String> = []
        var finished = KVConnectorFinished()
        /// Synchronous loads of the last step that came short.
        var loadErrors: [String: Int] = [:]
        var pendingSaveBytes = 0
        var saving: Set<KVBlockKey> = []
        var stats = KVTransferStats()
    }

    /// - Parameters:
    ///   - config: `kv_connector_extra_config` gives `path` (required) and `max_bytes` (default 1 GiB).
    ///   - identity: what the cache's blocks are (the store ignores files written under another).
    public init(config: KVTransferConfig, identity: KVStoreIdentity, warn: @escaping @Sendable (String) -> Void = { _ in }) throws(KVStoreError) {
        guard let path = config.string("path"), !path.isEmpty else {
            throw .invalid("OffloadingConnector needs kv_connector_extra_config.path (a directory)")
        }
        let maxBytes = config.integer("max_bytes") ?? (1 << 30)
        store = try KVBlockStore(directory: URL(fileURLWithPath: path), maxBytes: maxBytes, identity: identity, warn: warn)
        role = config.role
        loadsAsync = config.bool("load_async") ?? true
        blockSize = identity.blockSize
    }

    // MARK: Scheduler side

    public var savesBlocks: Bool { role.saves }

    public func numNewMatchedTokens(_ request: KVConnectorRequest, numComputedTokens: Int) -> (tokens: Int?, loadAsync: Bool) {
        guard role.loads, numComputedTokens % blockSize == 0 else { return (0, false) }
        // The last token is always computed here: its logits are needed.
        let limit = min((request.tokenIds.count - 1) / blockSize, request.blockKeys.count)
        // Another request (a sibling completion, or the same prompt sent twice) is loading these
        // blocks: wait for it and take them from the prefix cache.
        if numComputedTokens / blockSize < limit,
           let other = shared.withLock({ $0.loadingFrom[request.blockKeys[numComputedTokens / blockSize]] }),
           other != request.requestId { return (nil, false) }
        var found = 0
        var i = numComputedTokens / blockSize
        while i < limit && store.contains(request.blockKeys[i]) {
            found += 1
            i += 1
        }
        let first = numComputedTokens / blockSize
        lookups.hits += found
        lookups.misses += max(0, limit - first - found)
        return found > 0 ? (found * blockSize, loadsAsync) : (0, false)
    }

    public func updateStateAfterAlloc(_ request: KVConnectorRequest, blockIds: [[Int32]], numComputedTokens: Int, numExternalTokens: Int) {
        guard numExternalTokens > 0 else { return }
        let first = numComputedTokens / blockSize
        let blocks = (first..<(first + numExternalTokens / blockSize)).map { i in
            KVBlockTransfer(index: i, key: request.blockKeys[i], tokenIds: Array(request.tokenIds[(i * blockSize)..<((i + 1) * blockSize)]),
                            blockIds: blockIds.map { $0[i] })
        }
        pendingLoads.append(KVRequestTransfer(requestId: request.requestId, blocks: blocks))
        if loadsAsync {
            shared.withLock { s in
                s.loading.insert(request.requestId)
                s.loadingFrom[blocks[0].key] = request.requestId
            }
        }
    }

    public func buildConnectorMetadata(saves: [KVRequestTransfer]) -> KVConnectorMetadata {
        defer { pendingLoads.removeAll() }
        // Blocks already stored (or being written) are not saved again.
        let wanted = shared.withLock { s in
            saves.compactMap { request -> KVRequestTransfer? in
                let blocks = request.blocks.filter { !s.saving.contains($0.key) && !store.contains($0.key) && !$0.blockIds.contains(-1) }
                return blocks.isEmpty ? nil : KVRequestTransfer(requestId: request.requestId, blocks: blocks)
            }
        }
        return KVConnectorMetadata(loads: pendingLoads, saves: role.saves ? wanted : [])
    }

    public func requestFinished(_ requestId: String, params: KVTransferParams?, blockIds: [[Int32]]) -> Bool {
        shared.withLock { s in
            guard s.loading.contains(requestId) else { return false }
            s.abandoned.insert(requestId)
            return true
        }
    }

    // MARK: Worker side

    public func registerKVCache(_ cache: KVCache) {}

    private var currentSaves: [KVRequestTransfer] = []

    public func startLoad(_ metadata: KVConnectorMetadata, cache: KVCache) {
        currentSaves = metadata.saves
        for load in metadata.loads {
            if loadsAsync {
                loadQueue.async { [self] in self.load(load, cache: cache) }
            } else {
                self.load(load, cache: cache)
            }
        }
    }

    public func takeLoadErrors() -> [String: Int] {
        shared.withLock { s in
            defer { s.loadErrors.removeAll() }
            return s.loadErrors
        }
    }

    /// Reads the request's blocks in order into the cache, stopping at the first that is missing
    /// or bad; reports an asynchronous load through ``finished()``, a synchronous one that came
    /// short through ``takeLoadErrors()``.
    private func load(_ load: KVRequestTransfer, cache: KVCache) {
        let start = DispatchTime.now().uptimeNanoseconds
        var loaded = 0
        let perGroup = store.identity.bytesPerBlock
        for block in load.blocks {
            let ok = store.read(block.key, tokens: block.tokenIds[...]) { payload in
                for (g, id) in block.blockIds.enumerated() {
                    cache.writeBlock(Int(id), from: payload.baseAddress! + g * perGroup)
                }
            }
            guard ok else { break }
            loaded += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        shared.withLock { s in
            s.loading.remove(load.requestId)
            if s.loadingFrom[load.blocks[0].key] == load.requestId { s.loadingFrom[load.blocks[0].key] = nil }
            s.stats.loadedBlocks += loaded
            s.stats.loadedBytes += loaded * perGroup * store.identity.numGroups
            s.stats.loadSeconds += seconds
            if loaded < load.blocks.count { s.stats.loadFailures += 1 }
            if !loadsAsync {
                if loaded < load.blocks.count { s.loadErrors[load.requestId] = loaded * blockSize }
                return
            }
            if s.abandoned.remove(load.requestId) != nil {
                s.finished.sending.append(load.requestId)
            } else {
                s.finished.receiving[load.requestId] = loaded * blockSize
            }
        }
        progress.signal()
    }

    public func waitForLayerLoad(_ layer: Int) {}

    public func saveLayer(_ layer: Int, cache: KVCache) {}

    /// Copies the step's new blocks out of the cache now (the cache may change after this
    /// returns) and queues them for the writer.
    public func waitForSave(cache: KVCache) {
        // A request whose synchronous load came short computed this step on missing blocks.
        let shortLoads = shared.withLock { $0.loadErrors }
        let saves = currentSaves.filter { shortLoads[$0.requestId] == nil }
        currentSaves = []
        guard !saves.isEmpty else { return }
        let perGroup = store.identity.bytesPerBlock
        for request in saves {
            for block in request.blocks {
                let bytes = perGroup * block.blockIds.count
                let admitted = shared.withLock { s -> Bool in
                    guard s.pendingSaveBytes + bytes <= Self.maxPendingSaveBytes, !s.saving.contains(block.key) else { return false }
                    s.pendingSaveBytes += bytes
                    s.saving.insert(block.key)
                    return true
                }
                guard admitted else { continue }
                // Owned by the writer from here on (it frees it).
                nonisolated(unsafe) let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
                for (g, id) in block.blockIds.enumerated() { cache.copyBlock(Int(id), into: buffer.baseAddress! + g * perGroup) }
                saveQueue.async { [self] in
                    let start = DispatchTime.now().uptimeNanoseconds
                    let stored = (try? store.write(block.key, tokens: block.tokenIds, payload: UnsafeRawBufferPointer(buffer))) != nil
                    buffer.deallocate()
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    shared.withLock { s in
                        s.pendingSaveBytes -= bytes
                        s.saving.remove(block.key)
                        if stored {
                            s.stats.savedBlocks += 1
                            s.stats.savedBytes += bytes
                        }
                        s.stats.saveSeconds += seconds
                    }
                }
            }
        }
    }

    public func finished() -> KVConnectorFinished {
        shared.withLock { s in
            defer { s.finished = KVConnectorFinished() }
            return s.finished
        }
    }

    public func waitForProgress(seconds: Double) {
        _ = progress.wait(timeout: .now() + seconds)
    }

    /// Waits until every queued load and save is done (saves on disk).
    public func flush() {
        saveQueue.sync {}
        loadQueue.sync {}
    }

    public var stats: KVTransferStats {
        var s = shared.withLock { $0.stats }
        let counts = store.counts
        s.offloadHits = lookups.hits
        s.offloadMisses = lookups.misses
        s.storedBlocks = counts.blocks
        s.storedBytes = counts.bytes
        s.evictedBlocks = counts.evicted
        s.rejectedFiles = counts.rejected
        return s
    }
}
