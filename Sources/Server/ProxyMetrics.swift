import Prometheus

/// `peregrine proxy`'s own Prometheus metrics: completions by how they were served, and each
/// instance's health and outstanding requests (the instances' engine metrics are on their own
/// `/metrics`).
final class ProxyMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// By outcome: `disaggregated` (prefill then decode), `decode_only` (no prefill instance
    /// answered: the decode instance computed the prompt), `client_error` (the prefill instance
    /// refused the request), `no_decode` (503), `decode_failed` (502).
    private let outcomes: [String: Counter]
    private let healthy: [String: Gauge]
    private let outstanding: [String: Gauge]

    static let outcomeNames = ["disaggregated", "decode_only", "client_error", "no_decode", "decode_failed"]

    init(prefill: [String], decode: [String]) {
        func name(_ n: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: ServerMetrics.prefix + n, unitName: "", helpText: help)
        }
        var outcomes: [String: Counter] = [:]
        for outcome in Self.outcomeNames {
            outcomes[outcome] = registry.makeCounter(descriptor: name("proxy_requests_total", "Completions the proxy handled, by how they were served."),
                                                     labels: [("outcome", outcome)])
        }
        self.outcomes = outcomes
        var healthy: [String: Gauge] = [:], outstanding: [String: Gauge] = [:]
        for (role, urls) in [("prefill", prefill), ("decode", decode)] {
            for url in urls {
                healthy[url] = registry.makeGauge(descriptor: name("proxy_instance_healthy", "1 while the instance answers /health."),
                                                  labels: [("role", role), ("instance", url)])
                outstanding[url] = registry.makeGauge(descriptor: name("proxy_instance_outstanding_requests", "Requests the proxy has in flight on the instance."),
                                                      labels: [("role", role), ("instance", url)])
            }
        }
        self.healthy = healthy
        self.outstanding = outstanding
    }

    func count(_ outcome: String) { outcomes[outcome]?.increment() }

    func render(_ instances: [DisaggregatedProxy.Instance]) -> String {
        for instance in instances {
            healthy[instance.url]?.set(to: instance.isHealthy ? 1 : 0)
            outstanding[instance.url]?.set(to: Double(instance.outstanding))
        }
        return registry.emitToString()
    }
}
