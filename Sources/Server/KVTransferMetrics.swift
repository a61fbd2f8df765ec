import Engine
import KVTransfer
import Prometheus

/// The KV connector's counters as Prometheus metrics (`--kv-transfer-config`): blocks and bytes
/// loaded and saved, transfer time, load failures, and the offloading store's hits, misses and size.
struct KVTransferMetrics {
    private let loadedBlocks, loadedBytes, savedBlocks, savedBytes, loadFailures, offloadHits, offloadMisses, evicted, rejected: Counter
    private let loadSeconds, saveSeconds: Counter
    private let storedBlocks, storedBytes, waitingForRemoteKVs: Gauge
    private var last = KVTransferStats()

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)]) {
        func counter(_ n: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: ServerMetrics.prefix + n, unitName: "", helpText: help), labels: labels)
        }
        func gauge(_ n: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: ServerMetrics.prefix + n, unitName: "", helpText: help), labels: labels)
        }
        loadedBlocks = counter("kv_transfer_loaded_blocks_total", "KV blocks written into this instance's cache by the KV connector.")
        loadedBytes = counter("kv_transfer_loaded_bytes_total", "Bytes of KV loaded by the KV connector.")
        savedBlocks = counter("kv_transfer_saved_blocks_total", "KV blocks sent or stored by the KV connector.")
        savedBytes = counter("kv_transfer_saved_bytes_total", "Bytes of KV sent or stored by the KV connector.")
        loadSeconds = counter("kv_transfer_load_seconds_total", "Seconds the KV connector spent loading.")
        saveSeconds = counter("kv_transfer_save_seconds_total", "Seconds the KV connector spent saving.")
        loadFailures = counter("kv_load_failures_total", "Requests whose external KV could not all be loaded.")
        offloadHits = counter("kv_offload_hits_total", "KV blocks found in the offloading store.")
        offloadMisses = counter("kv_offload_misses_total", "Prompt KV blocks the offloading store did not have.")
        evicted = counter("kv_offload_evicted_blocks_total", "KV blocks evicted from the offloading store (LRU).")
        rejected = counter("kv_offload_rejected_files_total", "Store files ignored: another model, truncated or corrupt.")
        storedBlocks = gauge("kv_offload_stored_blocks", "KV blocks in the offloading store.")
        storedBytes = gauge("kv_offload_stored_bytes", "Bytes in the offloading store.")
        waitingForRemoteKVs = gauge("num_requests_waiting_for_remote_kvs", "Requests waiting for their external KV.")
    }

    mutating func record(_ now: KVTransferStats, waitingForRemoteKVs waiting: Int) {
        func add(_ counter: Counter, _ value: Int, _ before: Int) {
            if value > before { counter.increment(by: Int64(value - before)) }
        }
        add(loadedBlocks, now.loadedBlocks, last.loadedBlocks)
        add(loadedBytes, now.loadedBytes, last.loadedBytes)
        add(savedBlocks, now.savedBlocks, last.savedBlocks)
        add(savedBytes, now.savedBytes, last.savedBytes)
        if now.loadSeconds > last.loadSeconds { loadSeconds.increment(by: now.loadSeconds - last.loadSeconds) }
        if now.saveSeconds > last.saveSeconds { saveSeconds.increment(by: now.saveSeconds - last.saveSeconds) }
        add(loadFailures, now.loadFailures, last.loadFailures)
        add(offloadHits, now.offloadHits, last.offloadHits)
        add(offloadMisses, now.offloadMisses, last.offloadMisses)
        add(evicted, now.evictedBlocks, last.evictedBlocks)
        add(rejected, now.rejectedFiles, last.rejectedFiles)
        storedBlocks.set(to: Double(now.storedBlocks))
        storedBytes.set(to: Double(now.storedBytes))
        waitingForRemoteKVs.set(to: Double(waiting))
        last = now
    }
}
