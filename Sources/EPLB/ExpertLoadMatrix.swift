/// Per-layer, per-logical-expert loads: an L × E matrix of finite, non-negative numbers
/// (token counts in practice), stored row-major in one flat array.
///
/// Construction validates the values, so every matrix you hold is a valid balancer input.
public struct ExpertLoadMatrix: Equatable, Sendable {
    /// L, the number of MoE layers.
    public let numLayers: Int
    /// E, the number of logical experts per layer.
    public let numExperts: Int
    /// The loads, row-major: `values[layer * numExperts + expert]`.
    public let values: [Double]

    /// A matrix from its flat row-major values.
    /// - Throws: `EPLBError.emptyLoad` if either dimension is zero, `.shapeMismatch` if
    ///   `values.count != numLayers * numExperts`, `.negativeLoad` or `.nonFiniteLoad` for a bad value.
    public init(numLayers: Int, numExperts: Int, values: [Double]) throws(EPLBError) {
        guard numLayers > 0, numExperts > 0 else { throw .emptyLoad }
        guard values.count == numLayers * numExperts else {
            throw .shapeMismatch(count: values.count, expected: numLayers * numExperts)
        }
        for (i, v) in values.enumerated() {
            if v.isNaN || v.isInfinite || v > Double(Float.greatestFiniteMagnitude) {
                throw .nonFiniteLoad(layer: i / numExperts, expert: i % numExperts, value: v)
            }
            if v < 0 { throw .negativeLoad(layer: i / numExperts, expert: i % numExperts, value: v) }
        }
        self.numLayers = numLayers
        self.numExperts = numExperts
        self.values = values
    }

    /// A matrix from one row per layer.
    /// - Throws: `EPLBError.emptyLoad`, `.raggedLoad`, `.negativeLoad` or `.nonFiniteLoad`.
    public init(rows: [[Double]]) throws(EPLBError) {
        guard let first = rows.first, !first.isEmpty else { throw .emptyLoad }
        for (layer, row) in rows.enumerated() where row.count != first.count {
            throw .raggedLoad(layer: layer, count: row.count, expected: first.count)
        }
        try self.init(numLayers: rows.count, numExperts: first.count, values: rows.flatMap { $0 })
    }

    /// The loads of one layer.
    public func row(_ layer: Int) -> ArraySlice<Double> {
        values[layer * numExperts..<(layer + 1) * numExperts]
    }

    /// One row per layer.
    public var rows: [[Double]] {
        (0..<numLayers).map { Array(row($0)) }
    }

    /// The load of one expert in one layer.
    public subscript(layer: Int, expert: Int) -> Double {
        values[layer * numExperts + expert]
    }
}
