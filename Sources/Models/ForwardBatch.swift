/// One flat batch of tokens from one or more sequences, as the model runner builds it.
///
/// Token `i` sits at `positions[i]` of sequence `sequenceIndex[i]`; its K/V is written to cache
/// slot `slotMapping[i]` (= block × blockSize + offset) and it attends to positions
/// `0...positions[i]` of its sequence, found through that sequence's row of `blockTables`.
public struct ForwardBatch: Sendable {
    public var tokenIDs: [Int32] = []
    public var positions: [Int32] = []
    public var sequenceIndex: [Int32] = []
    public var slotMapping: [Int32] = []
    /// Row-major `[numSequences][blockTableStride]` block ids.
    public var blockTables: [Int32] = []
    public var blockTableStride: Int = 0
    /// Indices of the tokens whose logits are wanted, in output order.
    public var logitIndices: [Int32] = []

    public init() {}

    public var count: Int { tokenIDs.count }

    /// Empties the batch, keeping its storage.
    public mutating func removeAll(blockTableStride stride: Int) {
        tokenIDs.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        sequenceIndex.removeAll(keepingCapacity: true)
        slotMapping.removeAll(keepingCapacity: true)
        blockTables.removeAll(keepingCapacity: true)
        logitIndices.removeAll(keepingCapacity: true)
        blockTableStride = stride
    }

    /// Appends a sequence's block table (padded to the stride) and returns its index.
    public mutating func addSequence(blockTable: some Collection<Int32>) -> Int32 {
        precondition(blockTable.count <= blockTableStride, "block table longer than the stride")
        let index = Int32(blockTables.count / max(blockTableStride, 1))
        blockTables.append(contentsOf: blockTable)
        blockTables.append(contentsOf: repeatElement(-1, count: blockTableStride - blockTable.count))
        return index
    }

    /// Appends one token of sequence `sequence` at `position`, stored in `slot`.
    public mutating func addToken(_ id: Int32, position: Int32, sequence: Int32, slot: Int32, wantsLogits: Bool) {
        if wantsLogits { logitIndices.append(Int32(tokenIDs.count)) }
        tokenIDs.append(id)
        positions.append(position)
        sequenceIndex.append(sequence)
        slotMapping.append(slot)
    }
}
