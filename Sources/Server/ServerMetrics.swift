import Engine
import Prometheus
import Synchronization

/// The server's Prometheus metrics, named as vLLM names them (`vllm:` becomes `peregrine:`),
/// each labelled with `model_name`. Engine gauges and counters are read from ``EngineStats``
/// when `/metrics` is scraped; request latencies are recorded as requests finish.
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` renders; bootstrap swift-metrics with
    /// `PrometheusMetricsFactory(registry:)` to add other libraries' metrics to it.
    public let registry = PrometheusCollectorRegistry()
    public static let prefix = "peregrine:"

    private let running, waiting, kvCacheUsage: Gauge
    private let promptTokens, generationTokens, prefixCacheQueries, prefixCacheHits, preemptions: Counter
    private let timeToFirstToken, interTokenLatency, endToEndLatency: DurationHistogram
    private let requestPromptTokens, requestGenerationTokens: ValueHistogram
    private let finished: [FinishReason: Counter]
    private let lastStats = Mutex<EngineStats?>(nil)
    /// Per MoE layer, made at the first scrape that has expert load.
    private let balancedness = Mutex<[Gauge]>([])
    private let rebalances: Counter
    private let balancednessBeforeRebalance, expectedBalancedness: Gauge
    private let specDrafts, specDraftTokens, specAcceptedTokens: Counter
    private let specAcceptanceRate: Gauge
    /// Per draft position, made as positions first appear.
    private let specAcceptedPerPosition = Mutex<[Counter]>([])
    private let labels: [(String, String)]
    /// Made at the first scrape of an engine with a KV connector.
    private let kvTransfer = Mutex<KVTransferMetrics?>(nil)
    /// Made at the first scrape of an expert-parallel engine.
    private let expertParallel = Mutex<ExpertParallelMetrics?>(nil)

    public init(modelName: String) {
        let labels = [("model_name", modelName)]
        self.labels = labels
        func name(_ n: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: Self.prefix + n, unitName: "", helpText: help)
        }
        running = registry.makeGauge(descriptor: name("num_requests_running", "Requests in the running batch."), labels: labels)
        waiting = registry.makeGauge(descriptor: name("num_requests_waiting", "Requests waiting to be scheduled."), labels: labels)
        kvCacheUsage = registry.makeGauge(descriptor: name("kv_cache_usage_perc", "Fraction of KV cache blocks in use (1 = full)."),
                                          labels: labels)
        promptTokens = registry.makeCounter(descriptor: name("prompt_tokens_total", "Prompt tokens of requests that started generating, prefix-cache hits included."), labels: labels)
        generationTokens = registry.makeCounter(descriptor: name("generation_tokens_total", "Tokens generated."), labels: labels)
        prefixCacheQueries = registry.makeCounter(
            descriptor: name("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache."), labels: labels)
        prefixCacheHits = registry.makeCounter(
            descriptor: name("prefix_cache_hits_total", "Prompt tokens found in the prefix cache."), labels: labels)
        preemptions = registry.makeCounter(descriptor: name("num_preemptions_total", "Requests preempted (KV cache full)."), labels: labels)
        timeToFirstToken = registry.makeDurationHistogram(
            descriptor: name("time_to_first_token_seconds", "Time from arrival to the first generated token."), labels: labels,
            buckets: Self.durations([0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640]))
        interTokenLatency = registry.makeDurationHistogram(
            descriptor: name("inter_token_latency_seconds", "Time between consecutive generated tokens of a request."), labels: labels,
            buckets: Self.durations([0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]))
        endToEndLatency = registry.makeDurationHistogram(
            descriptor: name("e2e_request_latency_seconds", "Time from arrival to the last token."), labels: labels,
            buckets: Self.durations([0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]))
        let sizes: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
        requestPromptTokens = registry.makeValueHistogram(
            descriptor: name("request_prompt_tokens", "Prompt tokens per request."), labels: labels, buckets: sizes)
        requestGenerationTokens = registry.makeValueHistogram(
            descriptor: name("request_generation_tokens", "Generated tokens per request."), labels: labels, buckets: sizes)
        var finished: [FinishReason: Counter] = [:]
        for reason in [FinishReason.stop, .length, .abort] {
            finished[reason] = registry.makeCounter(
                descriptor: name("request_success_total", "Finished requests by finish reason."),
                labels: labels + [("finished_reason", reason.rawValue)])
        }
        self.finished = finished
        specDrafts = registry.makeCounter(
            descriptor: name("spec_decode_num_drafts_total", "Speculative drafts verified (--speculative-config)."), labels: labels)
        specDraftTokens = registry.makeCounter(descriptor: name("spec_decode_num_draft_tokens_total", "Draft tokens verified."), labels: labels)
        specAcceptedTokens = registry.makeCounter(
            descriptor: name("spec_decode_num_accepted_tokens_total", "Draft tokens accepted."), labels: labels)
        specAcceptanceRate = registry.makeGauge(
            descriptor: name("spec_decode_draft_acceptance_rate", "Accepted / verified draft tokens since the start."), labels: labels)
        balancednessBeforeRebalance = registry.makeGauge(
            descriptor: name("eplb_balancedness_before_last_rebalance", "Mean balancedness over MoE layers measured just before the last rebalance."),
            labels: labels)
        expectedBalancedness = registry.makeGauge(
            descriptor: name("eplb_expected_balancedness_last_rebalance", "Mean balancedness the balancer expected of the last placement, on the load it was computed from."),
            labels: labels)
        rebalances = registry.makeCounter(
            descriptor: name("eplb_rebalances_total", "Expert placements installed by EPLB (MoE models, --enable-eplb)."), labels: labels)
    }

    private static func durations(_ seconds: [Double]) -> [Duration] {
        seconds.map { .nanoseconds(Int64($0 * 1e9)) }
    }

    /// Records a finished completion (one of `n`).
    func recordFinished(_ metrics: RequestMetrics?, promptTokens: Int, finishReason: FinishReason) {
        finished[finishReason]?.increment()
        requestPromptTokens.record(Double(promptTokens))
        guard let metrics else { return }
        requestGenerationTokens.record(Double(metrics.numGeneratedTokens))
        if let ttft = metrics.ttft { timeToFirstToken.record(.nanoseconds(Int64(ttft * 1e9))) }
        endToEndLatency.record(.nanoseconds(Int64((metrics.finishedTime - metrics.arrivalTime) * 1e9)))
    }

    /// Counts completions aborted before they finished (their client went away).
    func recordAborted(_ count: Int) {
        finished[.abort]?.increment(by: Int64(count))
    }

    /// Records the gap between two outputs of a request that carried `tokens` new tokens.
    func recordInterTokenLatency(seconds: Double, tokens: Int) {
        guard tokens > 0, seconds >= 0 else { return }
        let each = Duration.nanoseconds(Int64(seconds / Double(tokens) * 1e9))
        for _ in 0..<tokens { interTokenLatency.record(each) }
    }

    /// `eplb_balancedness{layer=…}`: average ÷ maximum tokens per rank of each MoE layer since
    /// the last rebalance (vLLM's EPLB balancedness, which it logs).
    private func recordBalancedness(_ values: [Double]) {
        balancedness.withLock { gauges in
            if gauges.count != values.count {
                gauges = values.indices.map { layer in
                    registry.makeGauge(
                        descriptor: MetricNameDescriptor(
                            metricName: Self.prefix + "eplb_balancedness", unitName: "",
                            helpText: "Average / maximum tokens per EPLB rank of an MoE layer since the last rebalance (1 = even)."),
                        labels: labels + [("layer", String(layer))])
                }
            }
            for (gauge, value) in zip(gauges, values) { gauge.set(to: value) }
        }
    }

    /// The Prometheus text exposition, with the engine's gauges and counters brought up to `stats`.
    func render(stats: EngineStats) -> String {
        running.set(to: Double(stats.numRunning))
        waiting.set(to: Double(stats.numWaiting))
        kvCacheUsage.set(to: stats.kvCacheUsage)
        lastStats.withLock { last in
            func add(_ counter: Counter, _ now: Int, _ before: Int) {
                if now > before { counter.increment(by: Int64(now - before)) }
            }
            add(promptTokens, stats.promptTokens, last?.promptTokens ?? 0)
            add(generationTokens, stats.generationTokens, last?.generationTokens ?? 0)
            add(prefixCacheQueries, stats.prefixCache.queries, last?.prefixCache.queries ?? 0)
            add(prefixCacheHits, stats.prefixCache.hits, last?.prefixCache.hits ?? 0)
            add(preemptions, stats.numPreemptions, last?.numPreemptions ?? 0)
            add(rebalances, stats.expertLoad?.rebalances ?? 0, last?.expertLoad?.rebalances ?? 0)
            if let spec = stats.specDecode {
                let before = last?.specDecode ?? SpecDecodeStats()
                add(specDrafts, spec.numDrafts, before.numDrafts)
                add(specDraftTokens, spec.numDraftTokens, before.numDraftTokens)
                add(specAcceptedTokens, spec.numAcceptedTokens, before.numAcceptedTokens)
                specAcceptanceRate.set(to: spec.acceptanceRate)
                specAcceptedPerPosition.withLock { counters in
                    while counters.count < spec.acceptedPerPosition.count {
                        counters.append(registry.makeCounter(
                            descriptor: MetricNameDescriptor(
                                metricName: Self.prefix + "spec_decode_num_accepted_tokens_per_pos_total", unitName: "",
                                helpText: "Draft tokens accepted at each position of the draft."),
                            labels: labels + [("position", String(counters.count))]))
                    }
                    for (i, counter) in counters.enumerated() {
                        add(counter, spec.acceptedPerPosition[i], i < before.acceptedPerPosition.count ? before.acceptedPerPosition[i] : 0)
                    }
                }
            }
            last = stats
        }
        if let load = stats.expertLoad {
            recordBalancedness(load.balancedness)
            if let before = load.balancednessBeforeLastRebalance { balancednessBeforeRebalance.set(to: before) }
            if let expected = load.expectedBalancednessOfLastRebalance { expectedBalancedness.set(to: expected) }
        }
        if let workers = stats.expertParallel {
            expertParallel.withLock { metrics in
                if metrics == nil { metrics = ExpertParallelMetrics(registry: registry, labels: labels, ranks: workers.ranks.count) }
                metrics!.record(workers)
            }
        }
        if let transfer = stats.kvTransfer {
            kvTransfer.withLock { metrics in
                if metrics == nil { metrics = KVTransferMetrics(registry: registry, labels: labels) }
                metrics!.record(transfer, waitingForRemoteKVs: stats.numWaitingForRemoteKVs)
            }
        }
        return registry.emitToString()
    }
}
