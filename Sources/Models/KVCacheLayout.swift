import Kernels

/// Which keys a layer's queries see.
public enum AttentionType: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Every earlier position of the sequence.
    case full
    /// The last `window` positions, the query's own included (llama.cpp's standard SWA: key
    /// position p0 is visible from query position p1 when p1 - p0 < window).
    case slidingWindow(Int)

    /// The window in positions, or nil for full attention.
    public var window: Int? {
        if case .slidingWindow(let w) = self { return w }
        return nil
    }

    public var description: String {
        switch self {
        case .full: "full"
        case .slidingWindow(let w): "sliding(\(w))"
        }
    }
}

/// One KV cache group (vLLM V1's `KVCacheGroupSpec`): layers of one attention type that share a
/// block table. The `i`-th layer of every group lives in tensor slot `i`, so one block id costs
/// the same memory in every group and all groups draw from one block pool.
public struct KVCacheGroup: Sendable, Equatable {
    public var attention: AttentionType
    public var layers: [Int]

    public init(attention: AttentionType, layers: [Int]) {
        self.attention = attention
        self.layers = layers
    }
}

/// How a model's layers map onto KV cache groups and tensor slots.
///
/// A model whose layers all attend the same way has one group of all its layers (one block table
/// per request, one tensor per layer). A hybrid model (Gemma 3: five sliding-window layers to one
/// global) has its layers split, by type, into groups of equal size, as vLLM V1's hybrid allocator
/// does: a long request then holds blocks for the whole context only in its full-attention groups,
/// and the sliding-window groups free the blocks that fall out of the window.
public struct KVCacheLayout: Sendable, Equatable {
    public let groups: [KVCacheGroup]
    /// Tensors per layer slot: the size of the largest group.
    public let tensorsPerGroup: Int
    /// Group of each layer.
    public let groupOfLayer: [Int]
    /// Tensor slot of each layer (its index within its group).
    public let slotOfLayer: [Int]

    /// Groups the layers of `types` (one per layer). One type: one group. Several: each type's
    /// layers, in order, are cut into groups as large as the smallest type's layer count.
    public init(layerTypes types: [AttentionType]) {
        precondition(!types.isEmpty, "a model has at least one layer")
        var kinds: [AttentionType] = []
        for t in types where !kinds.contains(t) { kinds.append(t) }
        let layersOf = kinds.map { kind in types.indices.filter { types[$0] == kind } }
        let size = layersOf.map(\.count).min()!
        var groups: [KVCacheGroup] = []
        for (kind, layers) in zip(kinds, layersOf) {
            var start = 0
            while start < layers.count {
                groups.append(KVCacheGroup(attention: kind, layers: Array(layers[start..<min(start + size, layers.count)])))
                start += size
            }
        }
        var groupOfLayer = [Int](repeating: 0, count: types.count), slotOfLayer = groupOfLayer
        for (g, group) in groups.enumerated() {
            for (slot, layer) in group.layers.enumerated() {
                groupOfLayer[layer] = g
                slotOfLayer[layer] = slot
            }
        }
        self.groups = groups
        self.groupOfLayer = groupOfLayer
        self.slotOfLayer = slotOfLayer
        tensorsPerGroup = size
    }

    public var numGroups: Int { groups.count }

    /// Bytes one block id takes: keys and values of one block in every tensor slot.
    public func bytesPerBlock(blockSize: Int, kvHeads: Int, headDim: Int, precision: KVPrecision) -> Int {
        2 * tensorsPerGroup * blockSize * kvHeads * headDim * precision.bytes
    }

    /// Block tables for one sequence of up to `blocks` blocks in a cache used by nothing else
    /// (tests, benchmarks, perplexity): sequence `s` takes, in each group, its own run of ids.
    public func contiguousBlockTables(sequence s: Int, blocks: Int) -> [[Int32]] {
        (0..<numGroups).map { g in
            let first = (s * numGroups + g) * blocks
            return (first..<(first + blocks)).map { Int32($0) }
        }
    }

    /// Blocks `contiguousBlockTables` needs for `sequences` sequences of up to `blocks` blocks.
    public func contiguousBlockCount(sequences: Int, blocks: Int) -> Int { sequences * numGroups * blocks }
}

extension KVCacheLayout {
    /// Blocks one request of `tokens` tokens holds at most: every block of the context in each
    /// full-attention group; in a sliding-window group, the window plus a prefill chunk of
    /// `chunkTokens` (blocks behind the window are freed as the request advances).
    public func blocksNeeded(tokens: Int, blockSize: Int, chunkTokens: Int) -> Int {
        let context = (tokens + blockSize - 1) / blockSize
        return groups.reduce(0) { total, group in
            guard let window = group.attention.window else { return total + context }
            return total + min(context, (window + chunkTokens + blockSize - 1) / blockSize + 1)
        }
    }

    /// The longest request (in tokens) that `numBlocks` blocks hold alone.
    public func maxTokens(numBlocks: Int, blockSize: Int, chunkTokens: Int) -> Int {
        var low = 0, high = numBlocks * blockSize
        while low < high {
            let mid = (low + high + 1) / 2
            if blocksNeeded(tokens: mid, blockSize: blockSize, chunkTokens: chunkTokens) <= numBlocks { low = mid } else { high = mid - 1 }
        }
        return low
    }
}
