extension ExpertLoadMatrix {
    /// The load each GPU carries without replication: the E experts split contiguously over the P GPUs
    /// as evenly as possible (the first E mod P GPUs get one extra expert; with E < P some are empty),
    /// as numpy's `array_split` does.
    public func gpuLoadsWithoutReplication(layer: Int, numGPUs: Int) -> [Double] {
        let base = numExperts / numGPUs, extra = numExperts % numGPUs
        var loads = [Double](repeating: 0, count: numGPUs)
        var expert = layer * numExperts
        for gpu in 0..<numGPUs {
            let size = base + (gpu < extra ? 1 : 0)
            var sum = 0.0
            for _ in 0..<size {
                sum += values[expert]
                expert += 1
            }
            loads[gpu] = sum
        }
        return loads
    }
}

extension ExpertPlacement {
    /// The load each GPU carries under this placement: the sum over its R/P slots of
    /// weight ÷ replica count of the slot's expert (float64).
    public func gpuLoads(layer: Int, weight: ExpertLoadMatrix) -> [Double] {
        let perGPU = numReplicas / numGPUs
        let experts = physicalToLogical(layer: layer), counts = replicaCounts(layer: layer)
        var loads = [Double](repeating: 0, count: numGPUs)
        var slot = experts.startIndex
        for gpu in 0..<numGPUs {
            var sum = 0.0
            for _ in 0..<perGPU {
                let expert = experts[slot]
                sum += weight[layer, expert] / Double(counts[counts.startIndex + expert])
                slot += 1
            }
            loads[gpu] = sum
        }
        return loads
    }
}
