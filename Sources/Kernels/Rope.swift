import Synchronization
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
    /// cos and sin of every pair at positions 0..<`tablePositions`, shared by every rope of the
    /// same parameters (a model's layers): the same values `apply` would compute, computed once.
    /// The tables live as long as the process (``RopeTable``), so a pointer is enough, and the
    /// threads applying a rope do not contend for a reference count.
    private nonisolated(unsafe) let table: UnsafePointer<Float>?
    private let tablePositions: Int

    /// `tablePositions`: how many positions get a precomputed table (capped at 8 MiB of it);
    /// later positions compute their angles on the fly, to the same bits.
    public init(layout: Layout, dimensions: Int, base: Float, linearScalingFactor: Float = 1, tablePositions: Int = 0) {
        self.layout = layout
        self.dimensions = dimensions
        self.positionScale = 1 / linearScalingFactor
        let inverseFrequencies = (0..<dimensions / 2).map { i in
            Float(pow(Double(base), -2 * Double(i) / Double(dimensions)))
        }
        self.inverseFrequencies = inverseFrequencies
        let positions = dimensions >= 2 ? min(tablePositions, (8 << 20) / (dimensions * MemoryLayout<Float>.size)) : 0
        table = positions > 0 ? UnsafePointer(RopeTable.shared(inverseFrequencies, positionScale: positionScale, positions: positions).values.baseAddress!) : nil
        self.tablePositions = max(0, positions)
    }

    /// The angles' cos (first half) and sin (second half) at `position` into `out`.
    @inline(__always)
    static func angles(_ inverseFrequencies: [Float], positionScale: Float, position: Int, into out: UnsafeMutablePointer<Float>) {
        let half = inverseFrequencies.count
        let p = Float(position) * positionScale
        for i in 0..<half {
            let theta = p * inverseFrequencies[i]
            out[i] = cosf(theta)
            out[half + i] = sinf(theta)
        }
    }

    /// Rotates `heads` consecutive heads of `headDim` floats each, in place, for one position.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, position: Int) {
        let half = dimensions / 2
        if let table, position < tablePositions {
            rotate(x, heads: heads, headDim: headDim, table: table + position * 2 * half)
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { angles in
            Self.angles(inverseFrequencies, positionScale: positionScale, position: position, into: angles.baseAddress!)
            rotate(x, heads: heads, headDim: headDim, table: angles.baseAddress!)
        }
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, table: UnsafePointer<Float>) {
        let half = dimensions / 2
        for h in 0..<heads {
            let v = x + h * headDim
            switch layout {
            case .interleaved:
                for i in 0..<half {
                    let c = table[i], s = table[half + i]
                    let x0 = v[2 * i], x1 = v[2 * i + 1]
                    v[2 * i] = x0 * c - x1 * s
                    v[2 * i + 1] = x0 * s + x1 * c
                }
            case .neox:
                for i in 0..<half {
                    let c = table[i], s = table[half + i]
                    let x0 = v[i], x1 = v[i + half]
                    v[i] = x0 * c - x1 * s
                    v[i + half] = x0 * s + x1 * c
                }
            }
        }
    }
}

/// A rope's cos/sin table over positions, built once per set of parameters and kept for the
/// life of the process (a model's layers share one; reloading a model finds it again).
final class RopeTable: Sendable {
    /// Never freed: ropes hold pointers into it.
    nonisolated(unsafe) let values: UnsafeMutableBufferPointer<Float>

    private init(_ inverseFrequencies: [Float], positionScale: Float, positions: Int) {
        let width = 2 * inverseFrequencies.count
        values = .allocate(capacity: positions * width)
        for p in 0..<positions {
            Rope.angles(inverseFrequencies, positionScale: positionScale, position: p, into: values.baseAddress! + p * width)
        }
    }

    private struct Key: Hashable {
        var frequencies: [UInt32]
        var scale: UInt32
        var positions: Int
    }

    private static let cache = Mutex<[Key: RopeTable]>([:])

    static func shared(_ inverseFrequencies: [Float], positionScale: Float, positions: Int) -> RopeTable {
        let key = Key(frequencies: inverseFrequencies.map(\.bitPattern), scale: positionScale.bitPattern, positions: positions)
        return cache.withLock { cache in
            if let table = cache[key] { return table }
            let table = RopeTable(inverseFrequencies, positionScale: positionScale, positions: positions)
            cache[key] = table
            return table
        }
    }
}
