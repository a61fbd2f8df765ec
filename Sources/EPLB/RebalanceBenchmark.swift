/// Times `ExpertLoadBalancer.rebalance` on two DeepSeek-V3-shaped workloads (58 MoE layers × 256
/// experts with a Zipf(1.1) synthetic load, the prefill and decode presets), one thread. It measures
/// this implementation only; it runs no other implementation to compare with.
public struct RebalanceBenchmark: Sendable {
    /// One workload.
    public struct Workload: Sendable {
        /// `prefill` or `decode`.
        public let name: String
        /// The synthetic L × E load.
        public let weight: ExpertLoadMatrix
        /// The preset's cluster shape for E experts.
        public let configuration: RebalanceConfiguration
    }

    /// Timings of one workload, in seconds.
    public struct Result: Sendable {
        /// The workload's name.
        public let workload: String
        /// Timed runs.
        public let iterations: Int
        /// Median, fastest, 90th-percentile and slowest run, in seconds.
        public let median: Double, minimum: Double, p90: Double, maximum: Double
    }

    /// The workloads: `prefill` (288 slots, 8 groups, 4 nodes, 32 GPUs, hierarchical) and `decode`
    /// (320 slots on 320 GPUs, global).
    public let workloads: [Workload]

    /// The standard workloads for a given layer/expert count and seed.
    public init(numLayers: Int = 58, numExperts: Int = 256, seed: UInt64 = 1) throws(EPLBError) {
        let weight = try SyntheticLoad(
            numLayers: numLayers, numExperts: numExperts, skew: .zipf(exponent: 1.1), seed: seed
        ).matrix()
        workloads = DeploymentPreset.allCases.map {
            Workload(name: $0.rawValue, weight: weight, configuration: $0.configuration(numExperts: numExperts))
        }
    }

    /// Runs every workload `iterations` times after a few warm-up runs.
    public func run(iterations: Int, threads: Int = 1) throws(EPLBError) -> [Result] {
        var results: [Result] = []
        for workload in workloads {
            let balancer = ExpertLoadBalancer(workload.configuration)
            for _ in 0..<3 { _ = try balancer.rebalance(workload.weight, threads: threads) }
            var seconds: [Double] = []
            let clock = ContinuousClock()
            for _ in 0..<max(iterations, 1) {
                let start = clock.now
                _ = try balancer.rebalance(workload.weight, threads: threads)
                seconds.append(Self.seconds(clock.now - start))
            }
            seconds.sort()
            results.append(
                Result(
                    workload: workload.name, iterations: seconds.count, median: Self.median(seconds),
                    minimum: seconds[0], p90: seconds[seconds.count * 9 / 10], maximum: seconds[seconds.count - 1]))
        }
        return results
    }

    /// The middle value of sorted values (the mean of the two middle ones for an even count).
    static func median(_ sorted: [Double]) -> Double {
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
