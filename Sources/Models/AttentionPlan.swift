import Kernels

/// How one forward pass's attention is cut into work items; the same for every layer, so it is
/// planned once per pass.
///
/// - Query tiles: up to ``tileTokens`` consecutive tokens of one sequence (a prefill chunk, a
///   verification step's drafts) share each key block's load, 8 to ``draftTileTokens`` (large
///   passes: ``largeTileTokens``) when the pass still gives every thread many items; decode
///   tokens are tiles of one.
///   A query's bits do not depend on its tile.
/// - Partitions (flash-decoding): a context longer than ``partitionTokens`` is cut into
///   partitions attended separately, in parallel, and merged. The cut depends only on the
///   context length, never on the batch or the thread count, so a query gets the same bits in any
///   batch (batch invariance).
/// - Items: when the tiles alone fill the threads (prefill, large batches), tile × KV head, each
///   item running its tile's partitions in order and folding each into the output as it comes
///   (the partial rows stay in the thread's cache). Otherwise (decode of a few long contexts)
///   (tile, partition) × KV head, and × part of the KV head's query heads when there are fewer
///   items than threads (``headSplit(items:groupSize:threads:)``; the kernels give a head the
///   same bits alone or grouped); a second loop folds the partitions.
///   Both fold the same partial results in the same order (``foldAttention``), so the bits are
///   the same either way.
final class AttentionPlan: ParallelLoop, @unchecked Sendable {
    static let tileTokens = 4
    static let largeTileTokens = 16
    /// The widest tile of a small pass: a verification step of up to 31 drafts over a long
    /// context widens each key and value block once, not once per tile of 16 (17-token steps at
    /// depth 800: attention's perf samples 6% lower against the products'; 6-10% faster at
    /// depth 2,000). Large passes keep 16 (prefill was no faster with 32).
    static let draftTileTokens = 32
    /// Items each thread should get for a layout to balance (its shape is chosen by this): the
    /// tiles alone, or tiles of 8 to 32.
    static let itemsPerThread = 4
    static let partitionTokens = 256

    struct Tile {
        var firstToken: Int
        var tokens: Int
        var firstContext: Int
        var partitions: Int
        /// First partial-result entry of a tile with several partitions.
        var partialBase: Int
    }

    private var tiles = ScratchBuffer<Tile>()
    private var tileCount = 0
    /// (tile, partition) pairs: one per partition of each tile.
    private var pairs = ScratchBuffer<(tile: Int32, partition: Int32)>()
    private var pairCount = 0
    private var tokenTile = ScratchBuffer<Int32>()
    private var partialRows = ScratchBuffer<Float>()
    private var partialMaxima = ScratchBuffer<Float>()
    private var partialSums = ScratchBuffer<Float>()
    private var headSplit = 1
    private var partitionBlocks = 1
    private var merges = false
    /// Items are tile × KV head and fold their own partitions.
    private var foldsPerTile = false

    deinit {
        tiles.free(); pairs.free(); tokenTile.free()
        partialRows.free(); partialMaxima.free(); partialSums.free()
    }

    func build(_ meta: AttentionMetadata, tokens n: Int, blockSize: Int, config c: ModelConfig, threads: Int) {
        tiles.reserve(n)
        tokenTile.reserve(n)
        partitionBlocks = max(1, Self.partitionTokens / blockSize)
        let partitionSpan = partitionBlocks * blockSize
        tileCount = 0
        let tileLimit = Self.tileLimit(meta, tokens: n, partitionSpan: partitionSpan, kvHeads: c.numKVHeads, threads: threads)
        var pairTotal = 0, entries = 0
        var runStart = 0
        for end in 1..<(n + 1) where end == n || !Self.continues(meta, end) {
            // A run of consecutive tokens in tiles as even as they come: 9 as 5 + 4, not 8 + 1,
            // whose lone token would read the whole context again for itself.
            var t = runStart
            while t < end {
                let tiles = (end - t + tileLimit - 1) / tileLimit, width = (end - t + tiles - 1) / tiles
                self.tiles.pointer[tileCount] = Tile(firstToken: t, tokens: width, firstContext: Int(meta.positions[t]) + 1, partitions: 1,
                                                     partialBase: 0)
                for u in t..<(t + width) { tokenTile.pointer[u] = Int32(tileCount) }
                tileCount += 1
                t += width
            }
            runStart = end
        }
        for i in 0..<tileCount {
            let last = tiles.pointer[i].firstContext + tiles.pointer[i].tokens - 1
            let partitions = (last + partitionSpan - 1) / partitionSpan
            tiles.pointer[i].partitions = partitions
            if partitions > 1 {
                tiles.pointer[i].partialBase = entries
                entries += partitions * tiles.pointer[i].tokens * c.numHeads
            }
            pairTotal += partitions
        }
        foldsPerTile = tileCount * c.numKVHeads >= Self.itemsPerThread * threads
        if foldsPerTile {
            // One partition's rows at a time per item, where its output will go.
            merges = false
            headSplit = 1
            partialRows.reserve(n * c.qDim)
            return
        }
        pairs.reserve(pairTotal)
        pairCount = 0
        for i in 0..<tileCount {
            for p in 0..<tiles.pointer[i].partitions {
                pairs.pointer[pairCount] = (Int32(i), Int32(p))
                pairCount += 1
            }
        }
        merges = entries > 0
        partialRows.reserve(entries * c.headDim)
        partialMaxima.reserve(entries)
        partialSums.reserve(entries)
        headSplit = Self.headSplit(items: pairCount * c.numKVHeads, groupSize: c.numHeads / c.numKVHeads, threads: threads)
    }

    /// Parts the query heads of a KV head are split into: the fewest (a divisor of `groupSize`)
    /// that give every thread an item. The heads of a group share each key and value load and
    /// its widening, so splitting them further costs more than the balance it buys: a decode
    /// step at depth 128-320 was 3-16% faster with SmolLM2's 3 KV heads as 3 items than as 9.
    static func headSplit(items: Int, groupSize: Int, threads: Int) -> Int {
        var split = 1
        while items * split < threads && split < groupSize {
            split += 1
            while groupSize % split != 0 { split += 1 }
        }
        return split
    }

    /// Whether token `t` follows token `t - 1` in the same sequence.
    private static func continues(_ meta: AttentionMetadata, _ t: Int) -> Bool {
        t > 0 && meta.sequences[t] == meta.sequences[t - 1] && meta.positions[t] == meta.positions[t - 1] + 1
    }

    /// Tokens a tile takes at most: ``largeTileTokens`` for large passes, or the widest of
    /// ``draftTileTokens``, …, 16, 8 that still gives every thread ``itemsPerThread``
    /// (tile, partition) × KV head items, as a verification step of a few drafts over a long
    /// context does (one tile of them reads each key block once, against twice for tiles of 4
    /// and 2, 1.3x the time here; and 9 tokens in one tile, not 8 + 1); else ``tileTokens``.
    private static func tileLimit(_ meta: AttentionMetadata, tokens n: Int, partitionSpan: Int, kvHeads: Int, threads: Int) -> Int {
        if n * kvHeads >= largeTileTokens * 8 * threads { return largeTileTokens }
        for limit in stride(from: draftTileTokens, through: 8, by: -8) {
            var items = 0, runStart = 0
            for t in 0..<n where t == n - 1 || !continues(meta, t + 1) {
                let tokens = t - runStart + 1, lastContext = Int(meta.positions[t]) + 1
                items += (tokens + limit - 1) / limit * ((lastContext + partitionSpan - 1) / partitionSpan)
                runStart = t + 1
            }
            if items * kvHeads >= itemsPerThread * threads { return limit }
        }
        return tileTokens
    }

    // The inputs of the current layer's run, read by the workers through `run(_:)`.
    private var kv: KVLayerView?
    private var q = UnsafePointer<Float>(bitPattern: 64)!
    private var out = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var meta: AttentionMetadata?
    private var shape = Shape()
    private var merging = false
    private var tokenCount = 0
    private var group = 0
    private var window = 0

    /// The model's attention dimensions, as plain values.
    private struct Shape {
        var headDim = 0, qDim = 0, numHeads = 0, numKVHeads = 0
        var scale: Float = 1
    }

    /// out[t, h] = attention of query q[t, h] over its sequence's cached keys and values (the
    /// last `window` positions, or all with 0), found through the block tables of KV cache group
    /// `group`: the items in parallel, then (if a context was split) the merge, both as loops of
    /// this object. Partitions wholly before a sliding window read nothing and merge as nothing,
    /// so the cut stays the same for full and sliding layers.
    func attend(_ kv: KVLayerView, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, config c: ModelConfig,
                group: Int, window: Int, meta: AttentionMetadata, pool: ThreadPool) {
        self.kv = kv
        self.q = q
        self.out = out
        self.meta = meta
        self.group = group
        self.window = window
        shape = Shape(headDim: c.headDim, qDim: c.qDim, numHeads: c.numHeads, numKVHeads: c.numKVHeads, scale: c.attentionScale)
        merging = false
        pool.parallelFor((foldsPerTile ? tileCount : pairCount) * shape.numKVHeads * headSplit, self)
        if merges {
            merging = true
            tokenCount = tiles.pointer[tileCount - 1].firstToken + tiles.pointer[tileCount - 1].tokens
            pool.parallelFor(tokenCount, self)
        }
        self.kv = nil
        self.meta = nil
    }

    override func run(_ index: Int) {
        if merging { merge(token: index); return }
        if foldsPerTile {
            let tile = tiles.pointer[index / shape.numKVHeads], kvHead = index % shape.numKVHeads
            if tile.partitions == 1 {
                runItem(tile: tile, partition: 0, kvHead: kvHead, split: 0)
            } else {
                runTile(tile, kvHead: kvHead)
            }
            return
        }
        let perPair = shape.numKVHeads * headSplit
        let pair = pairs.pointer[index / perPair], rest = index % perPair
        runItem(tile: tiles.pointer[Int(pair.tile)], partition: Int(pair.partition), kvHead: rest / headSplit, split: rest % headSplit)
    }

    private func runItem(tile: Tile, partition p: Int, kvHead g: Int, split s: Int) {
        let d = shape.headDim, qDim = shape.qDim, numHeads = shape.numHeads, groups = numHeads / shape.numKVHeads
        let count = groups / headSplit, firstHead = g * groups + s * count
        let queries = self.queries(tile, firstHead: firstHead, count: count)
        let blocks = (p * partitionBlocks)..<((p + 1) * partitionBlocks)
        let table = meta!.blockTable(ofToken: tile.firstToken, group: group), layer = kv!
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * tile.tokens * count) { state in
            let maxima = state.baseAddress!, sums = maxima + tile.tokens * count
            if tile.partitions == 1 {
                let rows = out + tile.firstToken * qDim + firstHead * d
                pagedAttention(queries, kvHead: g, layer: layer, blockTable: table, blocks: blocks, scale: shape.scale,
                               into: AttentionAccumulator(output: rows, tokenStride: qDim, maxima: maxima, sums: sums))
                for t in 0..<tile.tokens {
                    for h in 0..<count { normalizeAttention(rows + t * qDim + h * d, sum: sums[t * count + h], headDim: d) }
                }
            } else {
                let entry = tile.partialBase + p * tile.tokens * numHeads + firstHead
                pagedAttention(queries, kvHead: g, layer: layer, blockTable: table, blocks: blocks, scale: shape.scale,
                               into: AttentionAccumulator(output: partialRows.pointer + entry * d, tokenStride: numHeads * d,
                                                          maxima: maxima, sums: sums))
                for t in 0..<tile.tokens {
                    for h in 0..<count {
                        partialMaxima.pointer[entry + t * numHeads + h] = maxima[t * count + h]
                        partialSums.pointer[entry + t * numHeads + h] = sums[t * count + h]
                    }
                }
            }
        }
    }

    /// Query heads firstHead..<firstHead + count of a tile's tokens.
    private func queries(_ tile: Tile, firstHead: Int, count: Int) -> AttentionQueries {
        AttentionQueries(q + tile.firstToken * shape.qDim + firstHead * shape.headDim, heads: count, tokens: tile.tokens,
                         tokenStride: shape.qDim, firstContext: tile.firstContext, window: window)
    }

    /// All partitions of one tile for the query heads of KV head `g`, each folded into the output
    /// rows as soon as it is computed (its rows go to the scratch where the output will go).
    private func runTile(_ tile: Tile, kvHead g: Int) {
        let d = shape.headDim, qDim = shape.qDim, count = shape.numHeads / shape.numKVHeads, firstHead = g * count
        let queries = self.queries(tile, firstHead: firstHead, count: count)
        let table = meta!.blockTable(ofToken: tile.firstToken, group: group), layer = kv!
        let rows = out + tile.firstToken * qDim + firstHead * d, part = partialRows.pointer + tile.firstToken * qDim + firstHead * d
        let n = tile.tokens * count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n) { scalars in
            withUnsafeTemporaryAllocation(of: AttentionFold.self, capacity: n) { folds in
                let maxima = scalars.baseAddress!, sums = maxima + n, state = folds.baseAddress!
                state.initialize(repeating: AttentionFold(), count: n)
                for p in 0..<tile.partitions {
                    let blocks = (p * partitionBlocks)..<((p + 1) * partitionBlocks)
                    pagedAttention(queries, kvHead: g, layer: layer, blockTable: table, blocks: blocks, scale: shape.scale,
                                   into: AttentionAccumulator(output: part, tokenStride: qDim, maxima: maxima, sums: sums))
                    for t in 0..<tile.tokens {
                        for h in 0..<count {
                            let i = t * count + h, at = t * qDim + h * d
                            foldAttention(row: part + at, max: maxima[i], sum: sums[i], into: rows + at, state: &state[i], headDim: d)
                        }
                    }
                }
                for t in 0..<tile.tokens {
                    for h in 0..<count { normalizeAttention(rows + t * qDim + h * d, sum: state[t * count + h].total, headDim: d) }
                }
            }
        }
    }

    /// Combines the partitions of `token`'s heads, if its context was split.
    private func merge(token: Int) {
        let tile = tiles.pointer[Int(tokenTile.pointer[token])]
        if tile.partitions == 1 { return }
        let d = shape.headDim, numHeads = shape.numHeads
        let t = token - tile.firstToken, stride = tile.tokens * numHeads
        for h in 0..<numHeads {
            let entry = tile.partialBase + t * numHeads + h
            mergeAttention(rows: partialRows.pointer + entry * d, maxima: partialMaxima.pointer + entry, sums: partialSums.pointer + entry,
                           parts: tile.partitions, rowStride: stride * d, scalarStride: stride, headDim: d,
                           into: out + token * shape.qDim + h * d)
        }
    }
}
