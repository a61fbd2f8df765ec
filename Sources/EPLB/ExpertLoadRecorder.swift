/// Accumulates per-layer, per-expert token counts from MoE routing into the load matrix the
/// balancer consumes, over a sliding window of steps or with exponential decay.
///
/// Call ``record(layer:expertCounts:)`` (or ``record(layer:selectedExperts:)`` with a layer's top-k
/// routing ids) during a forward pass and ``endStep()`` after it; ``load`` is the current matrix.
/// Recording adds into flat arrays and never allocates. The window keeps one Int32 count block per
/// step (L × E × steps × 4 bytes: 59 MiB for 58 × 256 experts over vLLM's default 1000 steps).
///
/// ```swift
/// var recorder = try ExpertLoadRecorder(.init(numLayers: 58, numExperts: 256, aggregation: .window(steps: 1000)))
/// try recorder.record(layer: 3, selectedExperts: topkIds)
/// recorder.endStep()
/// let placement = try balancer.rebalance(recorder.load)
/// ```
public struct ExpertLoadRecorder: Equatable, Sendable {
    /// How steps combine into the load.
    public enum Aggregation: Equatable, Sendable {
        /// The sum over the last `steps` steps, the current one included.
        case window(steps: Int)
        /// Σ factorᵏ × (counts of the step k steps ago): older steps fade geometrically.
        case decay(factor: Double)
    }

    /// The recorder's shape and aggregation.
    public struct Configuration: Equatable, Sendable {
        /// L, MoE layers.
        public var numLayers: Int
        /// E, logical experts per layer.
        public var numExperts: Int
        /// Sliding window or exponential decay.
        public var aggregation: Aggregation

        /// A configuration; the default keeps the last 1000 steps, as vLLM's EPLB does.
        public init(numLayers: Int, numExperts: Int, aggregation: Aggregation = .window(steps: 1000)) {
            self.numLayers = numLayers
            self.numExperts = numExperts
            self.aggregation = aggregation
        }

        /// Checks that the sizes are positive and the decay factor is in (0, 1].
        public func validate() throws(EPLBError) {
            guard numLayers > 0 else { throw .nonPositiveParameter(name: "numLayers", value: numLayers) }
            guard numExperts > 0 else { throw .nonPositiveParameter(name: "numExperts", value: numExperts) }
            switch aggregation {
            case .window(let steps): guard steps > 0 else { throw .nonPositiveParameter(name: "window steps", value: steps) }
            case .decay(let factor): guard factor > 0, factor <= 1 else { throw .invalidDecay(factor) }
            }
        }
    }

    /// The shape and aggregation.
    public let configuration: Configuration
    /// Steps ended with ``endStep()`` since creation or ``reset()``.
    public internal(set) var stepsRecorded: Int = 0
    /// The aggregated load, L × E row-major.
    @usableFromInline var total: [Double]
    /// Window mode: one L × E count block per step of the window (a ring); empty in decay mode.
    @usableFromInline var window: [Int32]
    /// Window mode: the ring index of the current step.
    @usableFromInline var currentSlot: Int = 0

    /// An empty recorder.
    /// - Throws: ``EPLBError`` for an invalid configuration.
    public init(_ configuration: Configuration) throws(EPLBError) {
        try configuration.validate()
        self.configuration = configuration
        let size = configuration.numLayers * configuration.numExperts
        total = [Double](repeating: 0, count: size)
        if case .window(let steps) = configuration.aggregation {
            window = [Int32](repeating: 0, count: steps * size)
        } else {
            window = []
        }
    }

    /// Adds one step's token counts of one layer (one count per expert).
    /// - Throws: `.layerOutOfRange`, `.expertCountMismatch`, or `.invalidCount` for a count outside
    ///   `0...Int32.max`.
    @inlinable
    public mutating func record<Counts: Collection>(layer: Int, expertCounts: Counts) throws(EPLBError)
    where Counts.Element: BinaryInteger {
        let e = configuration.numExperts
        guard layer >= 0, layer < configuration.numLayers else {
            throw .layerOutOfRange(layer: layer, numLayers: configuration.numLayers)
        }
        guard expertCounts.count == e else { throw .expertCountMismatch(count: expertCounts.count, expected: e) }
        let base = layer * e, slotBase = currentSlot * configuration.numLayers * e + base
        for (expert, count) in expertCounts.enumerated() {
            guard count >= 0, count <= Int32.max else {
                throw .invalidCount(layer: layer, expert: expert, count: Int(clamping: count))
            }
            add(Int32(count), at: base + expert, slotIndex: slotBase + expert)
        }
    }

    /// Adds one step's routing decisions of one layer: every element is the id of an expert a token
    /// was sent to (the flattened top-k ids), counted once.
    /// - Throws: `.layerOutOfRange` or `.expertOutOfRange`.
    @inlinable
    public mutating func record<Experts: Sequence>(layer: Int, selectedExperts: Experts) throws(EPLBError)
    where Experts.Element: BinaryInteger {
        let e = configuration.numExperts
        guard layer >= 0, layer < configuration.numLayers else {
            throw .layerOutOfRange(layer: layer, numLayers: configuration.numLayers)
        }
        let base = layer * e, slotBase = currentSlot * configuration.numLayers * e + base
        for id in selectedExperts {
            guard id >= 0, id < e else { throw .expertOutOfRange(expert: Int(clamping: id), numExperts: e) }
            add(1, at: base + Int(id), slotIndex: slotBase + Int(id))
        }
    }

    @inlinable
    mutating func add(_ count: Int32, at index: Int, slotIndex: Int) {
        total[index] += Double(count)
        if !window.isEmpty { window[slotIndex] &+= count }
    }

    /// Closes the current step: the window slides by one step (the oldest step leaves the load), or
    /// the load decays by the factor.
    public mutating func endStep() {
        stepsRecorded += 1
        switch configuration.aggregation {
        case .window(let steps):
            currentSlot = (currentSlot + 1) % steps
            let size = configuration.numLayers * configuration.numExperts, start = currentSlot * size
            for i in 0..<size {
                total[i] -= Double(window[start + i])
                window[start + i] = 0
            }
        case .decay(let factor):
            for i in total.indices { total[i] *= factor }
        }
    }

    /// Forgets everything recorded.
    public mutating func reset() {
        for i in total.indices { total[i] = 0 }
        for i in window.indices { window[i] = 0 }
        currentSlot = 0
        stepsRecorded = 0
    }

    /// The aggregated L × E load, ready for ``ExpertLoadBalancer/rebalance(_:threads:)``.
    public var load: ExpertLoadMatrix {
        // Totals are sums of non-negative integers (window) or their decayed sums: always valid.
        try! ExpertLoadMatrix(
            numLayers: configuration.numLayers, numExperts: configuration.numExperts, values: total.map { max($0, 0) })
    }
}
