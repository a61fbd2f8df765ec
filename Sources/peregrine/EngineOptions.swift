import ArgumentParser
import Engine
import Kernels

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

    func validate() throws {
        if eplbConfig != nil && !enableEplb { throw ValidationError("--eplb-config needs --enable-eplb") }
        _ = try eplb()
    }

    func config(maxNumSeqs defaultSeqs: Int = 64) throws -> EngineConfig {
        EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs ?? defaultSeqs),
                     blockSize: blockSize, kvCacheMemory: kvCacheMemory.map { $0 << 20 }, kvCacheDtype: kvCacheDtype,
                     enablePrefixCaching: !noPrefixCaching, maxModelLength: maxModelLen, eplb: try eplb())
    }

    private func eplb() throws -> EPLBConfig? {
        guard enableEplb else { return nil }
        do { return try eplbConfig.map(EPLBConfig.init(json:)) ?? EPLBConfig() } catch { throw ValidationError(error.description) }
    }
}
