/// One flat batch of tokens from one or more sequences, as the model runner builds it.
///
/// Token `i` sits at `positions[i]` of sequence `sequenceIndex[i]` and attends to earlier
/// positions of its sequence. Each sequence has one block table per KV cache group; a layer finds
/// a position's block in its group's table (block = table[position / blockSize]), and writes the
/// token's K/V there.
public struct ForwardBatch: Sendable {
    public var tokenIDs: [Int32] = []
    public var positions: [Int32] = []
    public var sequenceIndex: [Int32] = []
    /// Row-major `[numSequences][numGroups][blockTableStride]` block ids (-1: no block).
    public var blockTables: [Int32] = []
    public var blockTableStride: Int = 0
    /// Block tables per sequence: the model's number of KV cache groups.
    public var numGroups: Int = 1
    /// Indices of the tokens whose logits are wanted, in output order.
    public var logitIndices: [Int32] = []

    public init() {}

    public var count: Int { tokenIDs.count }

    /// Empties the batch, keeping its storage.
    public mutating func removeAll(blockTableStride stride: Int, groups: Int = 1) {
        tokenIDs.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        sequenceIndex.removeAll(keepingCapacity: true)
        blockTables.removeAll(keepingCapacity: true)
        logitIndices.removeAll(keepingCapacity: true)
        blockTableStride = stride
        numGroups = groups
    }

    /// Reserves room for batches up to these sizes, so building them never reallocates.
    public mutating func reserveCapacity(tokens: Int, sequences: Int, blocksPerSequence: Int, groups: Int = 1) {
        tokenIDs.reserveCapacity(tokens)
        positions.reserveCapacity(tokens)
        sequenceIndex.reserveCapacity(tokens)
        logitIndices.reserveCapacity(tokens)
        blockTables.reserveCapacity(sequences * groups * blocksPerSequence)
    }

    /// Appends a sequence's block tables, one per KV cache group (each padded to the stride), and
    /// returns its index.
    public mutating func addSequence(blockTables tables: [[Int32]]) -> Int32 {
        precondition(tables.count == numGroups, "\(tables.count) block tables for \(numGroups) KV cache groups")
        let index = Int32(blockTables.count / max(blockTableStride * numGroups, 1))
        for table in tables { append(table) }
        return index
    }

    /// Appends the block table of a sequence of a single-group model and returns its index.
    public mutating func addSequence(blockTable: some Collection<Int32>) -> Int32 {
        precondition(numGroups == 1, "one block table for \(numGroups) KV cache groups")
        let index = Int32(blockTables.count / max(blockTableStride, 1))
        append(blockTable)
        return index
    }

    private mutating func append(_ table: some Collection<Int32>) {
        precondition(table.count <= blockTableStride, "block table longer than the stride")
        blockTables.append(contentsOf: table)
        blockTables.append(contentsOf: repeatElement(-1, count: blockTableStride - table.count))
    }

    /// Appends one token of sequence `sequence` at `position`.
    public mutating func addToken(_ id: Int32, position: Int32, sequence: Int32, wantsLogits: Bool) {
        if wantsLogits { logitIndices.append(Int32(tokenIDs.count)) }
        tokenIDs.append(id)
        positions.append(position)
        sequenceIndex.append(sequence)
    }
}
