/// How evenly a layer's load is spread over the GPUs: average GPU load ÷ maximum GPU load
/// (1 is perfect; a layer with no load counts as 1). A metric of ours, not the reference's.
///
/// "Before" splits the experts contiguously over the GPUs without replication; "after" uses the
/// placement (each replica carries its expert's load ÷ its replica count).
public struct Balancedness: Equatable, Sendable {
    /// Balancedness of each layer without replication.
    public let perLayerBefore: [Double]
    /// Balancedness of each layer under the placement.
    public let perLayerAfter: [Double]

    /// The metric for every layer of a placement computed from `weight`.
    public init(weight: ExpertLoadMatrix, placement: ExpertPlacement) {
        perLayerBefore = (0..<weight.numLayers).map {
            Balancedness.of(gpuLoads: weight.gpuLoadsWithoutReplication(layer: $0, numGPUs: placement.numGPUs))
        }
        perLayerAfter = (0..<weight.numLayers).map {
            Balancedness.of(gpuLoads: placement.gpuLoads(layer: $0, weight: weight))
        }
    }

    /// The mean over layers without replication.
    public var meanBefore: Double { Balancedness.mean(perLayerBefore) }

    /// The mean over layers under the placement.
    public var meanAfter: Double { Balancedness.mean(perLayerAfter) }

    /// Average ÷ maximum of some GPU loads; 1 when they are all zero.
    public static func of(gpuLoads: [Double]) -> Double {
        let maximum = gpuLoads.max() ?? 0
        guard maximum > 0 else { return 1 }
        return mean(gpuLoads) / maximum
    }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 1 : values.reduce(0, +) / Double(values.count)
    }
}
