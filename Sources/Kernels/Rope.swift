#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotary position embedding tables and application.
public struct Rope: Sendable {
    /// Which dimensions form the rotated pairs.
    public enum Layout: Sendable {
        /// Adjacent pairs (x[2i], x[2i+1]): GGML's "normal" mode (llama, mistral).
        case interleaved
        /// Split halves (x[i], x[i + d/2]): GGML's NeoX mode (qwen2, qwen3, gemma).
        case neox
    }

    public let layout: Layout
    /// Number of leading dimensions of each head that are rotated.
    public let dimensions: Int
    /// Positions are divided by this (linear scaling); 1 when unscaled.
    public let positionScale: Float
    private let inverseFrequencies: [Float]

    public init(layout: Layout, dimensions: Int, base: Float, linearScalingFactor: Float = 1) {
        self.layout = layout
        self.dimensions = dimensions
        self.positionScale = 1 / linearScalingFactor
        inverseFrequencies = (0..<dimensions / 2).map { i in
            Float(pow(Double(base), -2 * Double(i) / Double(dimensions)))
        }
    }

    /// Rotates `heads` consecutive heads of `headDim` floats each, in place, for one position.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, position: Int) {
        let half = dimensions / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { table in
            let p = Float(position) * positionScale
            for i in 0..<half {
                let theta = p * inverseFrequencies[i]
                table[i] = cosf(theta)
                table[half + i] = sinf(theta)
            }
            for h in 0..<heads {
                let v = x + h * headDim
                for i in 0..<half {
                    let c = table[i], s = table[half + i]
                    let (a, b) = layout == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                    let x0 = v[a], x1 = v[b]
                    v[a] = x0 * c - x1 * s
                    v[b] = x0 * s + x1 * c
                }
            }
        }
    }
}
