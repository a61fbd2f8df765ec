import Models

/// The key of one full KV block: the engine's prefix-cache block hash (parent hash, the
/// block's tokens, extra keys), which is deterministic across processes and restarts.
public struct KVBlockKey: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public var description: String {
        let h = String(high, radix: 16), l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}

/// A request as a connector sees it.
public struct KVConnectorRequest: Sendable {
    public var requestId: String
    /// Every known token (prompt, then output).
    public var tokenIds: [Int]
    /// Keys of the full blocks of `tokenIds`, in position order.
    public var blockKeys: [KVBlockKey]
    /// The prompt's tokens (the first `numPromptTokens` of `tokenIds`).
    public var numPromptTokens: Int
    /// The request's `kv_transfer_params`, if it came with some.
    public var params: KVTransferParams?

    public init(requestId: String, tokenIds: [Int], blockKeys: [KVBlockKey], numPromptTokens: Int? = nil, params: KVTransferParams? = nil) {
        self.requestId = requestId
        self.tokenIds = tokenIds
        self.blockKeys = blockKeys
        self.numPromptTokens = numPromptTokens ?? tokenIds.count
        self.params = params
    }
}

/// One block a connector moves: its position in the request, its key and tokens, and the block
/// id holding it in each KV cache group.
public struct KVBlockTransfer: Sendable, Equatable {
    public var index: Int
    public var key: KVBlockKey
    public var tokenIds: [Int]
    /// One block id per KV cache group.
    public var blockIds: [Int32]

    public init(index: Int, key: KVBlockKey, tokenIds: [Int], blockIds: [Int32]) {
        self.index = index
        self.key = key
        self.tokenIds = tokenIds
        self.blockIds = blockIds
    }
}

/// The blocks of one request to load or save.
public struct KVRequestTransfer: Sendable, Equatable {
    public var requestId: String
    /// In position order.
    public var blocks: [KVBlockTransfer]
    /// The request's `kv_transfer_params`, if it came with some.
    public var params: KVTransferParams?

    public init(requestId: String, blocks: [KVBlockTransfer], params: KVTransferParams? = nil) {
        self.requestId = requestId
        self.blocks = blocks
        self.params = params
    }
}

/// What the scheduler side hands the worker side for one step (vLLM's `KVConnectorMetadata`).
public struct KVConnectorMetadata: Sendable, Equatable {
    /// Loads to start: blocks allocated for external tokens.
    public var loads: [KVRequestTransfer] = []
    /// Blocks this step computes in full, to save once each layer (or the step) is done.
    public var saves: [KVRequestTransfer] = []

    public init(loads: [KVRequestTransfer] = [], saves: [KVRequestTransfer] = []) {
        self.loads = loads
        self.saves = saves
    }

    public var isEmpty: Bool { loads.isEmpty && saves.isEmpty }
}

/// Transfers that completed since the last call (vLLM's `get_finished`).
public struct KVConnectorFinished: Sendable, Equatable {
    /// Requests whose held blocks were read by the other side: their delayed free can happen.
    public var sending: [String] = []
    /// Requests whose external tokens arrived, and how many of them (whole blocks from the
    /// start of the external range; fewer than asked when a load failed part-way).
    public var receiving: [String: Int] = [:]

    public init(sending: [String] = [], receiving: [String: Int] = [:]) {
        self.sending = sending
        self.receiving = receiving
    }

    public var isEmpty: Bool { sending.isEmpty && receiving.isEmpty }
}

/// The scheduler's half of a KV connector (vLLM V1's `KVConnectorBase_V1`, scheduler role).
public protocol KVConnectorScheduler: AnyObject {
    /// How many tokens after the `numComputedTokens` already in the local cache can be loaded
    /// from outside (whole blocks), and whether they load asynchronously (the request then waits
    /// in its own state, holding no compute budget, until ``KVConnectorWorker/finished()`` lists it)
    /// or synchronously (they count as computed at once and the step that computes the rest of
    /// the prompt loads them first: ``KVConnectorWorker/startLoad(_:cache:)`` returns with them in
    /// place, or reports a shortfall through ``KVConnectorWorker/takeLoadErrors()``).
    /// Nil tokens mean "not known yet" (vLLM's `None`): the request is skipped this step and
    /// asked again at the next, holding nothing (another completion of the same prompt is
    /// loading the same blocks, which it will then find in the prefix cache).
    func numNewMatchedTokens(_ request: KVConnectorRequest, numComputedTokens: Int) -> (tokens: Int?, loadAsync: Bool)

    /// Blocks were allocated for the request's `numExternalTokens` external tokens, which start at
    /// `numComputedTokens`: `blockIds` holds each group's table.
    func updateStateAfterAlloc(_ request: KVConnectorRequest, blockIds: [[Int32]], numComputedTokens: Int, numExternalTokens: Int)

    /// The step's metadata: loads set up since the last call, and the blocks `saves` the step fills.
    func buildConnectorMetadata(saves: [KVRequestTransfer]) -> KVConnectorMetadata

    /// The request finished (its `kv_transfer_params`, if any, and its block tables); returns
    /// whether its blocks must stay allocated until a transfer has read them (they are freed
    /// once ``KVConnectorWorker/finished()`` lists it as sent).
    func requestFinished(_ requestId: String, params: KVTransferParams?, blockIds: [[Int32]]) -> Bool

    /// Whether the scheduler should report the blocks each step fills.
    var savesBlocks: Bool { get }
}

/// The worker's half of a KV connector (vLLM V1's `KVConnectorBase_V1`, worker role).
public protocol KVConnectorWorker: AnyObject {
    /// The paged cache the connector reads and writes (vLLM's `register_kv_caches`), given once
    /// before the first step.
    func registerKVCache(_ cache: KVCache)
    /// Takes the step's metadata and starts its loads.
    func startLoad(_ metadata: KVConnectorMetadata, cache: KVCache)
    /// Returns once layer `layer`'s external K/V for this step is in the cache.
    func waitForLayerLoad(_ layer: Int)
    /// Layer `layer` of the step is computed: its new blocks may go out.
    func saveLayer(_ layer: Int, cache: KVCache)
    /// Returns once the step's saves no longer need the cache (they may still be in flight).
    func waitForSave(cache: KVCache)
    /// Sends and receives that completed since the last call.
    func finished() -> KVConnectorFinished
    /// Requests of the step just run whose synchronous load came short, with the external tokens
    /// that did arrive (whole blocks from the start of the external range); cleared by the call.
    /// The step computed those requests on the missing blocks: the scheduler takes its tokens back.
    func takeLoadErrors() -> [String: Int]
    /// Waits up to `seconds` for a transfer to complete (an engine with nothing to compute
    /// but requests waiting for KV idles here instead of spinning).
    func waitForProgress(seconds: Double)
    /// Waits until every transfer in flight is done (the engine is closing).
    func flush()
}

extension KVConnectorWorker {
    /// A connector that only loads asynchronously reports shortfalls through ``finished()``.
    public func takeLoadErrors() -> [String: Int] { [:] }
}

/// A KV connector: both halves, as one instance of the engine runs them.
public typealias KVConnector = KVConnectorScheduler & KVConnectorWorker & KVConnectorStatsSource

/// A connector's counters.
public protocol KVConnectorStatsSource: AnyObject {
    var stats: KVTransferStats { get }
}
