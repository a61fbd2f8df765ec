import Engine
import Models
import Prometheus

/// An expert-parallel model's counters as Prometheus metrics, per rank (`rank` label): rows
/// computed, dispatches, worker compute time, front wait time, bytes each way and whether the
/// worker is up; plus the steps that failed and the placements committed.
struct ExpertParallelMetrics {
    private struct Rank {
        let rows, dispatches, computeSeconds, waitSeconds, sentBytes, receivedBytes: Counter
        let up: Gauge
    }

    private let ranks: [Rank]
    private let failedSteps, placements: Counter
    private var last: ExpertDispatchStats

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)], ranks count: Int) {
        func name(_ n: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: ServerMetrics.prefix + n, unitName: "", helpText: help)
        }
        ranks = (0..<count).map { r in
            let l = labels + [("rank", String(r))]
            return Rank(
                rows: registry.makeCounter(descriptor: name("expert_parallel_rows_total", "Token-expert rows the rank's worker computed."), labels: l),
                dispatches: registry.makeCounter(descriptor: name("expert_parallel_dispatches_total", "Layer dispatches the rank answered."), labels: l),
                computeSeconds: registry.makeCounter(descriptor: name("expert_parallel_compute_seconds_total", "Seconds the rank's worker spent computing experts."), labels: l),
                waitSeconds: registry.makeCounter(descriptor: name("expert_parallel_wait_seconds_total", "Seconds from sending the rank its rows to having its results."), labels: l),
                sentBytes: registry.makeCounter(descriptor: name("expert_parallel_sent_bytes_total", "Activation bytes sent to the rank (dispatch)."), labels: l),
                receivedBytes: registry.makeCounter(descriptor: name("expert_parallel_received_bytes_total", "Result bytes received from the rank (combine)."), labels: l),
                up: registry.makeGauge(descriptor: name("expert_parallel_worker_up", "1 while the rank's worker is reachable."), labels: l))
        }
        failedSteps = registry.makeCounter(descriptor: name("expert_parallel_failed_steps_total", "Steps whose requests failed because an expert worker died, hung or refused."), labels: labels)
        placements = registry.makeCounter(descriptor: name("expert_parallel_placements_total", "Expert placements the workers took (the first one included)."), labels: labels)
        last = ExpertDispatchStats(ranks: (0..<count).map { _ in .init(address: "") })
    }

    mutating func record(_ now: ExpertDispatchStats) {
        func add(_ counter: Counter, _ value: Int, _ before: Int) {
            if value > before { counter.increment(by: Int64(value - before)) }
        }
        func add(_ counter: Counter, _ value: Double, _ before: Double) {
            if value > before { counter.increment(by: value - before) }
        }
        for (r, metrics) in ranks.enumerated() where r < now.ranks.count {
            let a = now.ranks[r], b = last.ranks[r]
            add(metrics.rows, a.rows, b.rows)
            add(metrics.dispatches, a.dispatches, b.dispatches)
            add(metrics.computeSeconds, a.computeSeconds, b.computeSeconds)
            add(metrics.waitSeconds, a.waitSeconds, b.waitSeconds)
            add(metrics.sentBytes, a.bytesSent, b.bytesSent)
            add(metrics.receivedBytes, a.bytesReceived, b.bytesReceived)
            metrics.up.set(to: a.alive ? 1 : 0)
        }
        add(failedSteps, now.failedPasses, last.failedPasses)
        add(placements, now.placements, last.placements)
        last = now
    }
}
