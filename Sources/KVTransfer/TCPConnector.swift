import Dispatch
import Foundation
import Models
import NIOCore
import NIOPosix
import Synchronization
import Transport

/// Prefill/decode disaggregation over TCP or a Unix-domain socket (vLLM's P2pNcclConnector,
/// Mooncake's transfer engine, in their push form).
///
/// **Producer** (the prefill instance): a request with `do_remote_decode` has its prompt's KV
/// pushed to the decode instance at `remote_host:remote_port` while it is computed: after each
/// layer of each step, that layer's slice of the step's full blocks goes out (copied out of the
/// cache at once, so the blocks are never held), and when the request ends a `done` frame says
/// how many blocks were sent. The response carries `kv_transfer_params` with
/// `do_remote_prefill` for the decode instance.
///
/// **Consumer** (the decode instance) listens on `kv_port`. A request with `do_remote_prefill`
/// waits for its prompt's blocks (minus its own prefix hits); frames that arrive before it is
/// scheduled are staged in memory and written into its blocks when they are allocated, later
/// ones straight into its paged cache, mapped to its own block ids. When the transfer is done,
/// or its link breaks, or it times out, the request goes on with the blocks that arrived whole;
/// the rest is recomputed (or the request fails, as `kv_load_failure_policy` says).
public final class TCPConnector: KVConnector, @unchecked Sendable {
    public let role: KVTransferConfig.Role
    let blockSize: Int
    let hello: KVWireHello
    let layerWindows: [Int?]
    /// Seconds a transfer may take from its request's allocation (or its first frame) to its end.
    let timeout: Double
    /// Most bytes staged for transfers whose request has not arrived yet.
    static let maxStagedBytes = 1 << 30
    private let group: MultiThreadedEventLoopGroup
    private var server: FrameServer?
    private let shared = Mutex(Shared())
    private let progress = DispatchSemaphore(value: 0)
    private let warn: @Sendable (String) -> Void
    private nonisolated(unsafe) var cache: KVCache?
    /// Producer: the step's blocks to send, per layer (engine thread only).
    private var currentSaves: [KVRequestTransfer] = []
    private var links: [String: FrameConnection] = [:]
    /// The last send on each link (``flush()`` waits for them).
    private var lastSend: [String: EventLoopFuture<Void>] = [:]
    /// Addresses that could not be reached, and until when (uptime ns) they are not tried again.
    private var unreachableUntil: [String: UInt64] = [:]
    /// Seconds an unreachable decode instance is left alone before the next try.
    static let retryAfter = 10.0
    private var sentBlocks: [String: Int] = [:]
    /// Most block bytes in one frame (a long chunk's layer goes out in frames of this size).
    static let maxFrameDataBytes = 4 << 20

    private struct Transfer {
        var requestId: String?
        /// Block ids per group and index, for indices `first..<end`.
        var first = 0
        var end = 0
        var blockIds: [[Int32]] = []
        var seenLayer: Set<Int> = []
        var staged: [(layer: Int, indices: [Int], bytes: ByteBuffer)] = []
        var stagedBytes = 0
        var doneBlocks: Int?
        /// Frames staged before the request came are being written into its blocks (on the
        /// event loop, not the engine thread): the transfer ends only after them.
        var applyingStaged = false
        var broken = false
        var abandoned = false
        var started = DispatchTime.now().uptimeNanoseconds
        var connection: FrameConnection?
    }

    private struct Shared {
        var transfers: [String: Transfer] = [:]
        var stagedBytes = 0
        var finished = KVConnectorFinished()
        var stats = KVTransferStats()
        var requestTransfer: [String: String] = [:]
        /// Transfers that ended (their request goes on without them if it comes back).
        var ended: Set<String> = []
        /// Transfers that ended since the last ``finished()``, and their requests: until the
        /// scheduler has taken the blocks into its prefix cache, other requests wait for them.
        var endedUnreported: [String: String] = [:]
        /// Links whose hello matched this cache: only their blocks are taken.
        var accepted: Set<FrameConnection> = []
    }

    /// - Parameters:
    ///   - config: the role; a consumer listens on `kv_ip` (default 127.0.0.1) : `kv_port` (0 picks
    ///     one: see ``port``), or on `kv_connector_extra_config.unix_path`; `timeout_seconds` (default 30).
    ///   - identity: the cache's identity; both sides must have the same.
    ///   - layerBlockBytes: bytes of one layer of one block (keys and values).
    ///   - layerWindows: each layer's sliding window (nil: full attention).
    public init(config: KVTransferConfig, identity: KVStoreIdentity, numLayers: Int, layerBlockBytes: Int, layerWindows: [Int?]? = nil,
                warn: @escaping @Sendable (String) -> Void = { _ in }) throws(KVTransferConfigError) {
        self.layerWindows = layerWindows ?? Array(repeating: nil, count: numLayers)
        role = config.role
        blockSize = identity.blockSize
        timeout = Double(config.integer("timeout_seconds") ?? 30)
        self.warn = warn
        hello = KVWireHello(model: identity.model, dtype: identity.dtype, blockSize: identity.blockSize,
                            layerBlockBytes: layerBlockBytes, numLayers: numLayers)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        unixPath = config.role.loads ? config.string("unix_path") : nil
        if config.role.loads {
            let address: TransportAddress = config.string("unix_path").map { .unix(path: $0) }
                ?? .tcp(host: config.ip ?? "127.0.0.1", port: config.port ?? 0)
            do {
                server = try FrameServer(address: address, group: group, handlers: FrameHandlers(
                    onFrame: { [weak self] link, frame in self?.received(frame, on: link) },
                    onClose: { [weak self] link, error in self?.closed(link, error: error) }))
            } catch {
                try? group.syncShutdownGracefully()
                throw .invalid("TCPConnector cannot listen on \(address): \(error)")
            }
        }
    }

    // The last reference can go on the event loop itself (a handler holds `self` while the
    // owner lets go), where blocking on the loop's shutdown would never return: the loop is then
    // shut down without waiting.
    deinit {
        server?.close()
        if group.next().inEventLoop {
            group.shutdownGracefully(queue: .global()) { _ in }
        } else {
            try? group.syncShutdownGracefully()
        }
    }

    /// The TCP port the consumer listens on (nil on a Unix-domain socket).
    public var port: Int? { server?.port }
    /// The Unix-domain socket the consumer listens on, if it does.
    public let unixPath: String?

    // MARK: Scheduler side

    public var savesBlocks: Bool { role.saves }

    public func numNewMatchedTokens(_ request: KVConnectorRequest, numComputedTokens: Int) -> (tokens: Int?, loadAsync: Bool) {
        guard role.loads, let params = request.params, params.doRemotePrefill, let id = params.remoteRequestId,
              numComputedTokens % blockSize == 0 else { return (0, false) }
        let end = min((request.tokenIds.count - 1) / blockSize, request.numPromptTokens / blockSize)
        let first = numComputedTokens / blockSize
        guard end > first else { return (0, false) }
        // One request per transfer. Another completion of the same prompt (n > 1) waits until
        // the transfer ends and then finds its blocks in the prefix cache; a request whose
        // transfer ended computes what it lacks.
        let (ended, claimant) = shared.withLock { ($0.ended.contains(id), $0.transfers[id]?.requestId ?? $0.endedUnreported[id]) }
        if ended && claimant == nil { return (0, false) }
        guard let claimant else { return ((end - first) * blockSize, true) }
        return claimant == request.requestId ? (0, false) : (nil, false)
    }

    public func updateStateAfterAlloc(_ request: KVConnectorRequest, blockIds: [[Int32]], numComputedTokens: Int, numExternalTokens: Int) {
        guard let id = request.params?.remoteRequestId, numExternalTokens > 0 else { return }
        let cache = self.cache
        shared.withLock { s in
            var t = s.transfers[id] ?? Transfer()
            t.requestId = request.requestId
            t.first = numComputedTokens / blockSize
            t.end = t.first + numExternalTokens / blockSize
            t.blockIds = blockIds
            t.started = DispatchTime.now().uptimeNanoseconds
            let staged = t.staged
            t.staged = []
            t.applyingStaged = !staged.isEmpty
            s.requestTransfer[request.requestId] = id
            s.transfers[id] = t
            if staged.isEmpty { complete(id, &s) } else { group.next().execute { self.applyStaged(staged, id: id, cache: cache) } }
        }
    }

    /// Writes the frames that came before the request into its blocks, one frame per lock hold
    /// (the engine thread only ever waits for one frame's copy), then ends the transfer if its
    /// end already came.
    private func applyStaged(_ staged: [(layer: Int, indices: [Int], bytes: ByteBuffer)], id: String, cache: KVCache?) {
        for item in staged {
            shared.withLock { s in
                s.stagedBytes -= item.bytes.readableBytes
                guard s.transfers[id] != nil else { return }
                modify(&s.transfers[id]!) { t in
                    t.stagedBytes -= item.bytes.readableBytes
                    if !t.abandoned { apply(item.layer, item.indices, item.bytes, to: &t, cache: cache) }
                }
            }
        }
        shared.withLock { s in
            s.transfers[id]?.applyingStaged = false
            complete(id, &s)
        }
    }

    public func buildConnectorMetadata(saves: [KVRequestTransfer]) -> KVConnectorMetadata {
        KVConnectorMetadata(saves: role.saves ? saves.filter { $0.params?.doRemoteDecode == true } : [])
    }

    public func requestFinished(_ requestId: String, params: KVTransferParams?, blockIds: [[Int32]]) -> Bool {
        if role.saves, let params, params.doRemoteDecode, let id = params.remoteRequestId,
           let link = link(params) {
            lastSend[params.remoteKey!] =
                link.send(KVWireMessage.done(transferId: id, numBlocks: sentBlocks.removeValue(forKey: id) ?? 0).frame(allocator: ByteBufferAllocator()))
        }
        guard role.loads else { return false }
        return shared.withLock { s in
            guard let id = s.requestTransfer[requestId], var t = s.transfers[id] else { return false }
            // Frames may still be written into its blocks: they stay allocated until the transfer ends.
            t.abandoned = true
            s.transfers[id] = t
            return true
        }
    }

    // MARK: Worker side

    public func registerKVCache(_ cache: KVCache) { self.cache = cache }

    public func startLoad(_ metadata: KVConnectorMetadata, cache: KVCache) {
        currentSaves = metadata.saves
        expireTimedOut()
    }

    public func waitForLayerLoad(_ layer: Int) {}

    /// Sends layer `layer` of the step's blocks of every request with `do_remote_decode`: one
    /// frame per request (or per ``maxFrameDataBytes`` of it), copied straight out of the cache.
    public func saveLayer(_ layer: Int, cache: KVCache) {
        let bytes = hello.layerBlockBytes
        let g = cache.layout.groupOfLayer[layer]
        let perFrame = max(1, Self.maxFrameDataBytes / bytes)
        for request in currentSaves {
            guard let params = request.params, let id = params.remoteRequestId, let link = link(params) else { continue }
            let blocks = request.blocks.filter { $0.blockIds[g] >= 0 }
            for start in stride(from: 0, to: blocks.count, by: perFrame) {
                let chunk = blocks[start..<min(blocks.count, start + perFrame)]
                let frame = KVWireMessage.layerBlocksFrame(transferId: id, layer: layer, indices: chunk.map(\.index), blockBytes: bytes,
                                                           allocator: link.allocator) { k, destination in
                    cache.copyLayerBlock(layer, block: Int(chunk[chunk.startIndex + k].blockIds[g]), into: destination)
                }
                lastSend[params.remoteKey!] = link.send(frame)
            }
            if layer == cache.numLayers - 1, let last = blocks.last { sentBlocks[id] = max(sentBlocks[id] ?? 0, last.index + 1) }
            if layer == cache.numLayers - 1 {
                shared.withLock { s in
                    s.stats.savedBlocks += request.blocks.count
                    s.stats.savedBytes += request.blocks.count * bytes * cache.numLayers
                }
            }
        }
    }

    public func waitForSave(cache: KVCache) { currentSaves = [] }

    /// The link to a decode instance, opened (with its hello) on first use; nil when it cannot be reached.
    private func link(_ params: KVTransferParams) -> FrameConnection? {
        guard let host = params.remoteHost, let key = params.remoteKey else { return nil }
        let address: TransportAddress = params.isUnixSocket ? .unix(path: String(host.dropFirst(5))) : .tcp(host: host, port: params.remotePort!)
        if let link = links[key], link.isActive { return link }
        let now = DispatchTime.now().uptimeNanoseconds
        if let until = unreachableUntil[key], now < until { return nil }
        do {
            let link = try FrameClient.connect(address, group: group, handlers: FrameHandlers(
                onFrame: { [warn] _, frame in
                    if case .error(let message)? = KVWireMessage(frame) { warn("KV transfer to \(key) refused: \(message)") }
                }), timeout: .seconds(1))
            link.send(KVWireMessage.hello(hello).frame(allocator: ByteBufferAllocator()))
            links[key] = link
            return link
        } catch {
            // Its requests' decode sides recompute; the prefill goes on without waiting on it.
            warn("KV transfer: cannot reach \(key) (\(error)); not trying it again for \(Int(Self.retryAfter)) s")
            links[key] = nil
            unreachableUntil[key] = now + UInt64(Self.retryAfter * 1e9)
            return nil
        }
    }

    // MARK: Consumer: frames

    private func received(_ frame: Frame, on link: FrameConnection) {
        guard let message = KVWireMessage(frame) else {
            link.send(KVWireMessage.error("malformed frame of kind \(frame.kind)").frame(allocator: ByteBufferAllocator()))
            link.close()
            return
        }
        // Closing a link reports its end at once, under the lock: refuse outside it.
        switch message {
        case .hello(let other):
            if let why = hello.mismatch(other) {
                warn("KV transfer refused: \(why)")
                link.send(KVWireMessage.error(why).frame(allocator: ByteBufferAllocator()))
                link.close()
            } else {
                shared.withLock { _ = $0.accepted.insert(link) }
            }
            return
        case .error(let message):
            warn("KV transfer peer error: \(message)")
            return
        default:
            break
        }
        let cache = self.cache
        shared.withLock { s in
            // Frames of a link that has not said hello, or whose hello was refused, are dropped
            // (a refused link's frames already read are still delivered while it closes).
            guard s.accepted.contains(link) else { return }
            switch message {
            case .hello, .error:
                break
            case .layerBlocks(let id, let layer, let indices, let bytes):
                guard layer < hello.numLayers, bytes.readableBytes == indices.count * hello.layerBlockBytes else { return }
                let staging = s.transfers[id]?.requestId == nil
                if staging && s.stagedBytes + bytes.readableBytes > Self.maxStagedBytes { return }
                if staging { s.stagedBytes += bytes.readableBytes }
                // In place: a copy of the transfer would copy its set of arrived layers per frame.
                modify(&s.transfers[id, default: Transfer()]) { t in
                    t.connection = link
                    if staging {
                        t.staged.append((layer, indices, bytes))
                        t.stagedBytes += bytes.readableBytes
                    } else if !t.abandoned {
                        apply(layer, indices, bytes, to: &t, cache: cache)
                    }
                }
            case .done(let id, let n):
                var t = s.transfers[id] ?? Transfer()
                t.doneBlocks = n
                s.transfers[id] = t
                complete(id, &s)
            }
        }
    }

    private func modify(_ t: inout Transfer, _ body: (inout Transfer) -> Void) { body(&t) }

    /// Writes received layer slices (the blocks at `indices`, in turn) into the request's blocks.
    private func apply(_ layer: Int, _ indices: [Int], _ bytes: ByteBuffer, to t: inout Transfer, cache: KVCache?) {
        guard let cache else { return }
        let g = cache.layout.groupOfLayer[layer]
        bytes.withUnsafeReadableBytes { raw in
            for (k, index) in indices.enumerated() where index >= t.first && index < t.end && !t.seenLayer.contains(index * 65_536 + layer) {
                let block = t.blockIds[g][index]
                guard block >= 0 else { continue }
                cache.writeLayerBlock(layer, block: Int(block), from: raw.baseAddress! + k * hello.layerBlockBytes)
                t.seenLayer.insert(index * 65_536 + layer)
            }
        }
    }

    private func closed(_ link: FrameConnection, error: (any Error)?) {
        shared.withLock { s in
            s.accepted.remove(link)
            for (id, t) in s.transfers where t.connection == link && t.doneBlocks == nil {
                var broken = t
                broken.broken = true
                s.transfers[id] = broken
                complete(id, &s)
            }
        }
    }

    /// Ends a registered transfer that is done, broken or abandoned: reports the whole blocks
    /// that arrived from its first one on (or frees an abandoned request's blocks).
    private func complete(_ id: String, _ s: inout Shared) {
        guard let t = s.transfers[id], let requestId = t.requestId else { return }
        let finished = t.doneBlocks != nil || t.broken
        guard finished && !t.applyingStaged else { return }
        let whole = wholeBlocks(t)
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - t.started
        s.transfers[id] = nil
        if s.ended.count >= 100_000 { s.ended.removeAll() }
        s.ended.insert(id)
        s.requestTransfer[requestId] = nil
        s.endedUnreported[id] = requestId
        if t.abandoned {
            s.finished.sending.append(requestId)
        } else {
            s.finished.receiving[requestId] = whole * blockSize
        }
        s.stats.loadedBlocks += whole
        s.stats.loadedBytes += whole * hello.layerBlockBytes * hello.numLayers
        s.stats.loadSeconds += Double(nanoseconds) / 1e9
        if whole < t.end - t.first { s.stats.loadFailures += 1 }
        progress.signal()
    }

    /// How many blocks from the transfer's first arrived whole: every layer, except that a
    /// sliding-window layer needs only the blocks its window still reaches from the position
    /// after them (the producer no longer holds the others).
    private func wholeBlocks(_ t: Transfer) -> Int {
        var k = t.end - t.first
        while k > 0 {
            let next = (t.first + k) * blockSize
            let complete = (t.first..<(t.first + k)).allSatisfy { index in
                (0..<hello.numLayers).allSatisfy { layer in
                    if t.seenLayer.contains(index * 65_536 + layer) { return true }
                    guard let window = layerWindows[layer] else { return false }
                    return index < max(0, next - window + 1) / blockSize
                }
            }
            if complete { return k }
            k -= 1
        }
        return 0
    }

    /// Fails registered transfers past the timeout and drops staged ones nobody claimed.
    private func expireTimedOut() {
        let now = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(timeout * 1e9)
        shared.withLock { s in
            for (id, t) in s.transfers where now - t.started > limit {
                if t.requestId == nil {
                    s.stagedBytes -= t.stagedBytes
                    s.transfers[id] = nil
                } else {
                    var broken = t
                    broken.broken = true
                    s.transfers[id] = broken
                    warn("KV transfer \(id) timed out after \(Int(timeout)) s; recomputing what did not arrive")
                    complete(id, &s)
                }
            }
        }
    }

    public func finished() -> KVConnectorFinished {
        shared.withLock { s in
            defer {
                s.finished = KVConnectorFinished()
                s.endedUnreported.removeAll()
            }
            return s.finished
        }
    }

    public func waitForProgress(seconds: Double) {
        _ = progress.wait(timeout: .now() + seconds)
        expireTimedOut()
    }

    public func flush() {
        for future in lastSend.values { try? future.wait() }
        lastSend.removeAll()
    }

    public var stats: KVTransferStats { shared.withLock { $0.stats } }
}
