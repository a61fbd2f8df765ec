/// A batch cut in two at a sequence boundary near its middle token, for the two-batch overlap of
/// an expert-parallel model, with the second micro-batch's workspace. The cut batches keep their
/// storage from step to step.
final class MicroBatches {
    private(set) var first = ForwardBatch()
    private(set) var second = ForwardBatch()
    let workspace = ForwardWorkspace()

    /// Cuts `batch` (tokens grouped by sequence, sequences numbered in order, logits wanted in
    /// token order); false when it has one sequence or another layout.
    func split(_ batch: ForwardBatch) -> Bool {
        let n = batch.count, seqs = batch.sequenceIndex
        guard n >= 2 else { return false }
        var cut = -1
        for t in 1..<n where seqs[t] != seqs[t - 1] {
            guard seqs[t] == seqs[t - 1] + 1 else { return false }
            if cut < 0 || abs(t - n / 2) < abs(cut - n / 2) { cut = t }
        }
        guard cut > 0, seqs[0] == 0 else { return false }
        for i in 1..<batch.logitIndices.count where batch.logitIndices[i] <= batch.logitIndices[i - 1] { return false }
        let sequencesBefore = Int(seqs[cut]), tableWidth = batch.blockTableStride * batch.numGroups
        first.removeAll(blockTableStride: batch.blockTableStride, groups: batch.numGroups)
        second.removeAll(blockTableStride: batch.blockTableStride, groups: batch.numGroups)
        first.tokenIDs.append(contentsOf: batch.tokenIDs[..<cut])
        first.positions.append(contentsOf: batch.positions[..<cut])
        first.sequenceIndex.append(contentsOf: seqs[..<cut])
        first.blockTables.append(contentsOf: batch.blockTables[..<(sequencesBefore * tableWidth)])
        second.tokenIDs.append(contentsOf: batch.tokenIDs[cut...])
        second.positions.append(contentsOf: batch.positions[cut...])
        for s in seqs[cut...] { second.sequenceIndex.append(s - Int32(sequencesBefore)) }
        second.blockTables.append(contentsOf: batch.blockTables[(sequencesBefore * tableWidth)...])
        for i in batch.logitIndices {
            if Int(i) < cut { first.logitIndices.append(i) } else { second.logitIndices.append(i - Int32(cut)) }
        }
        return true
    }
}
