/// Load matrices for experiments and benchmarks: each layer routes `tokensPerLayer` tokens over the
/// experts with a skew whose popularity order is shuffled per layer, with ±10 % noise per expert.
/// The same arguments always give the same matrix.
public struct SyntheticLoad: Equatable, Sendable {
    /// L, layers.
    public var numLayers: Int
    /// E, experts per layer.
    public var numExperts: Int
    /// How uneven the load is.
    public var skew: LoadSkew
    /// Expert selections per layer (tokens × top-k); the default is 4096 tokens × top-8.
    public var tokensPerLayer: Int
    /// The random seed.
    public var seed: UInt64

    /// A generator description.
    public init(numLayers: Int, numExperts: Int, skew: LoadSkew, tokensPerLayer: Int = 4096 * 8, seed: UInt64 = 1) {
        self.numLayers = numLayers
        self.numExperts = numExperts
        self.skew = skew
        self.tokensPerLayer = tokensPerLayer
        self.seed = seed
    }

    /// The integer-valued L × E matrix.
    /// - Throws: `.nonPositiveParameter` for a non-positive size or token count.
    public func matrix() throws(EPLBError) -> ExpertLoadMatrix {
        for (name, value) in [("layers", numLayers), ("experts", numExperts), ("tokens", tokensPerLayer)] where value <= 0 {
            throw .nonPositiveParameter(name: name, value: value)
        }
        var rng = SplitMix64(seed: seed)
        let rankWeights = (0..<numExperts).map { skew.weight(rank: $0) }
        let scale = Double(tokensPerLayer) / rankWeights.reduce(0, +)
        var values = [Double](repeating: 0, count: numLayers * numExperts)
        var popularity = Array(0..<numExperts)
        for layer in 0..<numLayers {
            for i in stride(from: numExperts - 1, to: 0, by: -1) {
                popularity.swapAt(i, rng.nextInt(below: i + 1))
            }
            for (rank, expert) in popularity.enumerated() {
                let noise = 0.9 + 0.2 * rng.nextUnit()
                values[layer * numExperts + expert] = (rankWeights[rank] * scale * noise).rounded()
            }
        }
        return try ExpertLoadMatrix(numLayers: numLayers, numExperts: numExperts, values: values)
    }
}
