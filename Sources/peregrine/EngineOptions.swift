import ArgumentParser
import Engine
import KVTransfer
import Kernels
import SpecDecode

extension KVPrecision: ExpressibleByArgument {}

/// Engine settings shared by the commands that run requests through the engine.
struct EngineOptions: ParsableArguments {
    @Option(help: "KV cache size in MiB (default: 20% of RAM, at most 4 GiB).")
    var kvCacheMemory: Int?

    @Option(help: "KV cache element type: f16, bf16 or f32.")
    var kvCacheDtype = KVPrecision.float16

    @Option(help: "Tokens per KV block.")
    var blockSize = 16

    @Flag(help: "Turn prefix caching off.")
    var noPrefixCaching = false

    @Flag(help: "Map the KV cache's memory at start, before serving (seconds for a pool of a few GiB; it then counts in full in the process's memory), so that no step pays page faults for a block's first use.")
    var populateKvCache = false

    @Option(help: "Token budget of one engine step.")
    var maxNumBatchedTokens = 512

    @Option(help: "Most requests running at once.")
    var maxNumSeqs: Int?

    @Option(help: "Longest prompt + output (default: the model's context length).")
    var maxModelLen: Int?

    @Flag(help: "MoE models: rebalance the experts' placement over --eplb-config's ranks from the router's live load.")
    var enableEplb = false

    @Option(help: ArgumentHelp(
        "EPLB settings as JSON (vLLM's): window_size, step_interval, num_redundant_experts, log_balancedness, num_ranks.",
        valueName: "json"))
    var eplbConfig: String?

    @Option(help: ArgumentHelp(
        "Speculative decoding as JSON (vLLM's): method (ngram, suffix, draft_model, mtp), num_speculative_tokens, model (draft_model's GGUF), prompt_lookup_min/max, suffix_decoding_max_tree_depth, suffix_decoding_max_cached_requests, suffix_decoding_max_spec_factor, suffix_decoding_min_token_prob, adaptive.",
        valueName: "json"))
    var speculativeConfig: String?

    @Option(help: ArgumentHelp(
        "A KV connector as JSON (vLLM's): kv_connector (OffloadingConnector: a disk tier for the prefix cache), kv_role (kv_producer, kv_consumer, kv_both), kv_load_failure_policy (recompute, fail), kv_connector_extra_config ({\"path\": DIR, \"max_bytes\": N, \"load_async\": false to load inside the step} for OffloadingConnector).",
        valueName: "json"))
    var kvTransferConfig: String?

    func validate() throws {
        if eplbConfig != nil && !enableEplb { throw ValidationError("--eplb-config needs --enable-eplb") }
        _ = try eplb()
        _ = try speculative()
        _ = try kvTransfer()
    }

    func kvTransfer() throws -> KVTransferConfig? {
        do { return try kvTransferConfig.map(KVTransferConfig.init(json:)) } catch { throw ValidationError(error.description) }
    }

    func speculative() throws -> SpeculativeConfig? {
        do { return try speculativeConfig.map(SpeculativeConfig.init(json:)) } catch { throw ValidationError(error.description) }
    }

    /// - Parameter loaded: the model the engine runs (its file fingerprints stored KV).
    func config(maxNumSeqs defaultSeqs: Int = 64, loaded: LoadedModel? = nil) throws -> EngineConfig {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs ?? defaultSeqs),
                                  blockSize: blockSize, kvCacheMemory: kvCacheMemory.map { $0 << 20 }, kvCacheDtype: kvCacheDtype,
                                  enablePrefixCaching: !noPrefixCaching, maxModelLength: maxModelLen, eplb: try eplb(),
                                  speculative: try speculative())
        config.kvTransfer = try kvTransfer()
        config.populatesKVCache = populateKvCache
        if config.kvTransfer != nil, let loaded { config.modelIdentity = KVStoreIdentity.modelFingerprint(loaded.file) }
        return config
    }

    private func eplb() throws -> EPLBConfig? {
        guard enableEplb else { return nil }
        do { return try eplbConfig.map(EPLBConfig.init(json:)) ?? EPLBConfig() } catch { throw ValidationError(error.description) }
    }
}
