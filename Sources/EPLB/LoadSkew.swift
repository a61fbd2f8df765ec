import Foundation

/// How unevenly synthetic load is spread over the experts of a layer.
public enum LoadSkew: Equatable, Sendable, CustomStringConvertible {
    /// Every expert gets about the same load.
    case uniform
    /// The expert of popularity rank k (1-based, random per layer) gets load ∝ 1 / kˢ.
    case zipf(exponent: Double)

    /// Parses `uniform` or `zipf:S` (S ≥ 0, e.g. `zipf:1.1`).
    /// - Throws: `EPLBError.invalidSkew`.
    public init(parsing text: String) throws(EPLBError) {
        if text == "uniform" {
            self = .uniform
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "zipf", let s = Double(parts[1]), s.isFinite, s >= 0 else {
            throw .invalidSkew(text)
        }
        self = .zipf(exponent: s)
    }

    public var description: String {
        switch self {
        case .uniform: "uniform"
        case .zipf(let s): "zipf:\(s)"
        }
    }

    /// The unnormalised weight of popularity rank `rank` (0-based).
    func weight(rank: Int) -> Double {
        switch self {
        case .uniform: 1
        case .zipf(let s): 1 / pow(Double(rank + 1), s)
        }
    }
}
