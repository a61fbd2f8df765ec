import KVTransfer
import Kernels
import SpecDecode

/// How the engine is set up: scheduling limits, KV cache size, element type and block size,
/// prefix caching.
public struct EngineConfig: Sendable {
    public var scheduler = SchedulerConfig()
    /// Tokens per KV block.
    public var blockSize = 16
    /// Bytes for the KV cache; nil takes `kvCacheMemoryFraction` of physical memory (at most 4 GiB).
    public var kvCacheMemory: Int?
    public var kvCacheMemoryFraction = 0.2
    /// The KV cache's element type (half precision by default, as in llama.cpp).
    public var kvCacheDtype = KVPrecision.float16
    public var enablePrefixCaching = true
    /// Longest prompt + output; nil uses the model's context length (capped by the KV cache).
    public var maxModelLength: Int?
    /// Expert load balancing of an MoE model (`--enable-eplb`); nil records the router's load
    /// (default window) without rebalancing.
    public var eplb: EPLBConfig?
    /// Speculative decoding (`--speculative-config`); nil: none.
    public var speculative: SpeculativeConfig?
    /// A KV connector (`--kv-transfer-config`); nil: none.
    public var kvTransfer: KVTransferConfig?
    /// The model's fingerprint for stored KV (``KVStoreIdentity/modelFingerprint(_:)`` of its
    /// file); nil derives a weaker one from the model's configuration.
    public var modelIdentity: String?
    /// Map the whole KV cache's memory while the engine starts, before its first step (as
    /// llama.cpp clears its KV buffer at start): a block's first use then costs no page faults in
    /// a step, and the pool counts in full in the process's memory from the start. Mapping 4.2 GiB
    /// took 0.9-5.5 s on these VMs, whose first touches of memory are slow; in the background it
    /// took the cores from the first requests instead (a server at concurrency 1 ran at a third
    /// of its speed for the first seconds). Off, pages are mapped ahead of use
    /// (``kvPopulateAheadBytes``).
    public var populatesKVCache = false
    /// Without ``populatesKVCache``: how far ahead of the blocks handed out so far the KV cache's
    /// memory is mapped, on an otherwise idle core (``KVCachePopulator``), so that steps do not
    /// pay a new block's page faults. The process's memory grows by at most this much beyond the
    /// blocks it has used. 0: pages are mapped on first use.
    public var kvPopulateAheadBytes = 64 << 20

    public init(scheduler: SchedulerConfig = SchedulerConfig(), blockSize: Int = 16, kvCacheMemory: Int? = nil,
                kvCacheMemoryFraction: Double = 0.2, kvCacheDtype: KVPrecision = .float16, enablePrefixCaching: Bool = true,
                maxModelLength: Int? = nil, eplb: EPLBConfig? = nil, speculative: SpeculativeConfig? = nil) {
        self.eplb = eplb
        self.speculative = speculative
        self.kvCacheDtype = kvCacheDtype
        self.scheduler = scheduler
        self.blockSize = blockSize
        self.kvCacheMemory = kvCacheMemory
        self.kvCacheMemoryFraction = kvCacheMemoryFraction
        self.enablePrefixCaching = enablePrefixCaching
        self.maxModelLength = maxModelLength
    }

    /// Bytes the KV cache gets.
    func kvCacheBytes(physicalMemory: UInt64) -> Int {
        kvCacheMemory ?? min(4 << 30, Int(Double(physicalMemory) * kvCacheMemoryFraction))
    }
}

public enum EngineConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case kvCacheTooSmall(bytes: Int, bytesPerBlock: Int)
    case invalid(String)
    case speculative(SpeculativeConfigError)
    case kvTransfer(KVTransferConfigError)

    public var description: String {
        switch self {
        case .kvTransfer(let e): e.description
        case .speculative(let e): e.description
        case .kvCacheTooSmall(let b, let per): "a KV cache of \(b) bytes holds no block (one block takes \(per) bytes)"
        case .invalid(let why): why
        }
    }
}
