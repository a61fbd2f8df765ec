import Foundation

/// JSON export and import. The object carries `weight` (the current L × E load), so an exported
/// recorder is also a valid load file for `peregrine eplb --load`; in window mode `window` holds the
/// per-step counts, oldest step first and the current step last, so an import resumes exactly.
///
/// ```json
/// {"num_layers": 2, "num_experts": 4, "window_steps": 3, "steps_recorded": 5,
///  "weight": [[…], […]], "window": [[[…], […]], …]}
/// ```
/// Decay mode writes `"decay": 0.9` instead of `window_steps` and no `window`.
extension ExpertLoadRecorder: Codable {
    enum CodingKeys: String, CodingKey {
        case numLayers = "num_layers", numExperts = "num_experts", windowSteps = "window_steps", decay
        case stepsRecorded = "steps_recorded", weight, window
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(configuration.numLayers, forKey: .numLayers)
        try c.encode(configuration.numExperts, forKey: .numExperts)
        try c.encode(stepsRecorded, forKey: .stepsRecorded)
        try c.encode(load.rows, forKey: .weight)
        switch configuration.aggregation {
        case .decay(let factor): try c.encode(factor, forKey: .decay)
        case .window(let steps):
            try c.encode(steps, forKey: .windowSteps)
            let blocks = (1...steps).map { block(atSlot: (currentSlot + $0) % steps) }
            try c.encode(blocks, forKey: .window)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let layers = try c.decode(Int.self, forKey: .numLayers), experts = try c.decode(Int.self, forKey: .numExperts)
        let aggregation: Aggregation =
            if let steps = try c.decodeIfPresent(Int.self, forKey: .windowSteps) {
                .window(steps: steps)
            } else {
                .decay(factor: try c.decode(Double.self, forKey: .decay))
            }
        try self.init(Configuration(numLayers: layers, numExperts: experts, aggregation: aggregation))
        stepsRecorded = try c.decodeIfPresent(Int.self, forKey: .stepsRecorded) ?? 0
        switch aggregation {
        case .window(let steps):
            let blocks = try c.decode([[[Int32]]].self, forKey: .window)
            try Self.check(blocks.count == steps && blocks.allSatisfy { Self.isShape($0, layers, experts) }, c, .window)
            try restoreWindow(blocks)
        case .decay:
            let weight = try c.decode([[Double]].self, forKey: .weight)
            try Self.check(Self.isShape(weight, layers, experts), c, .weight)
            let matrix = try ExpertLoadMatrix(rows: weight)
            total = matrix.values
        }
    }

    /// The recorder as JSON.
    public func jsonData() throws -> Data {
        try JSONEncoder().encode(self)
    }

    /// A recorder from ``jsonData()``'s output.
    public init(jsonData: Data) throws {
        self = try JSONDecoder().decode(ExpertLoadRecorder.self, from: jsonData)
    }

    private func block(atSlot slot: Int) -> [[Int32]] {
        let e = configuration.numExperts, size = configuration.numLayers * e
        return (0..<configuration.numLayers).map { Array(window[slot * size + $0 * e..<slot * size + ($0 + 1) * e]) }
    }

    private mutating func restoreWindow(_ blocks: [[[Int32]]]) throws {
        window = blocks.flatMap { $0.flatMap { $0 } }
        guard window.allSatisfy({ $0 >= 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.window], debugDescription: "negative count"))
        }
        currentSlot = blocks.count - 1
        let size = total.count
        for slot in 0..<blocks.count {
            for i in 0..<size { total[i] += Double(window[slot * size + i]) }
        }
    }

    private static func isShape<T>(_ rows: [[T]], _ layers: Int, _ experts: Int) -> Bool {
        rows.count == layers && rows.allSatisfy { $0.count == experts }
    }

    private static func check(_ ok: Bool, _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws {
        guard ok else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "shape does not match num_layers × num_experts")
        }
    }
}
