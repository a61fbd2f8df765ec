import Kernels

/// The paged key/value store: `numBlocks` blocks of `blockSize` token slots in each of the
/// layout's tensor slots. Layer `l` reads and writes the tensor of its slot, with block ids from
/// its group's block table. Which request owns which block is the engine's business; the model
/// only reads and writes slots.
public final class KVCache: @unchecked Sendable {
    public let numBlocks: Int
    public let blockSize: Int
    public let layout: KVCacheLayout
    public let kvHeads: Int
    public let headDim: Int
    public let precision: KVPrecision
    private let keys: [UnsafeMutableRawPointer]
    private let values: [UnsafeMutableRawPointer]

    public init(numBlocks: Int, blockSize: Int, layout: KVCacheLayout, kvHeads: Int, headDim: Int, precision: KVPrecision = .float16) {
        self.precision = precision
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.layout = layout
        self.kvHeads = kvHeads
        self.headDim = headDim
        let perSlot = numBlocks * blockSize * kvHeads * headDim * precision.bytes
        keys = (0..<layout.tensorsPerGroup).map { _ in PageMemory.allocate(byteCount: perSlot) }
        values = (0..<layout.tensorsPerGroup).map { _ in PageMemory.allocate(byteCount: perSlot) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    public var numLayers: Int { layout.groupOfLayer.count }

    /// Maps the pages of `blocks` in every tensor now, leaving their bytes as they are (a server
    /// maps its pool from the start, as peers do, so a block's first use costs no page faults).
    /// Safe while the engine uses the cache. False where the kernel cannot.
    @discardableResult
    public func populate(blocks: Range<Int>) -> Bool {
        let chunk = bytesPerBlockSlot
        let range = (blocks.lowerBound * chunk)..<(blocks.upperBound * chunk)
        for tensor in keys + values where !PageMemory.populate(tensor, range) { return false }
        return true
    }

    /// Whether the pages of `blocks` are mapped in every tensor (for tests and diagnostics).
    func isResident(blocks: Range<Int>) -> Bool {
        let chunk = bytesPerBlockSlot
        let range = (blocks.lowerBound * chunk)..<(blocks.upperBound * chunk)
        return (keys + values).allSatisfy { PageMemory.isResident($0, range) }
    }

    /// Bytes one block id takes across all tensor slots.
    public var bytesPerBlock: Int { layout.bytesPerBlock(blockSize: blockSize, kvHeads: kvHeads, headDim: headDim, precision: precision) }

    /// Bytes one block id takes in one tensor slot's keys (or values).
    public var bytesPerBlockSlot: Int { blockSize * kvHeads * headDim * precision.bytes }

    /// Copies block `block` out of every tensor slot, keys then values slot by slot
    /// (``bytesPerBlock`` bytes): what a KV connector ships or stores for one block id.
    public func copyBlock(_ block: Int, into destination: UnsafeMutableRawPointer) {
        precondition(block >= 0 && block < numBlocks, "block \(block) out of range")
        let chunk = bytesPerBlockSlot
        var out = destination
        for slot in keys.indices {
            out.copyMemory(from: keys[slot] + block * chunk, byteCount: chunk)
            (out + chunk).copyMemory(from: values[slot] + block * chunk, byteCount: chunk)
            out += 2 * chunk
        }
    }

    /// Writes block `block` in every tensor slot from bytes laid out as ``copyBlock(_:into:)`` gives them.
    public func writeBlock(_ block: Int, from source: UnsafeRawPointer) {
        precondition(block >= 0 && block < numBlocks, "block \(block) out of range")
        let chunk = bytesPerBlockSlot
        var input = source
        for slot in keys.indices {
            (keys[slot] + block * chunk).copyMemory(from: input, byteCount: chunk)
            (values[slot] + block * chunk).copyMemory(from: input + chunk, byteCount: chunk)
            input += 2 * chunk
        }
    }

    /// Copies layer `l`'s keys then values of block `block` (2 × ``bytesPerBlockSlot`` bytes).
    public func copyLayerBlock(_ l: Int, block: Int, into destination: UnsafeMutableRawPointer) {
        precondition(block >= 0 && block < numBlocks, "block \(block) out of range")
        let chunk = bytesPerBlockSlot, slot = layout.slotOfLayer[l]
        destination.copyMemory(from: keys[slot] + block * chunk, byteCount: chunk)
        (destination + chunk).copyMemory(from: values[slot] + block * chunk, byteCount: chunk)
    }

    /// Writes layer `l`'s keys and values of block `block` from bytes as ``copyLayerBlock(_:block:into:)`` gives them.
    public func writeLayerBlock(_ l: Int, block: Int, from source: UnsafeRawPointer) {
        precondition(block >= 0 && block < numBlocks, "block \(block) out of range")
        let chunk = bytesPerBlockSlot, slot = layout.slotOfLayer[l]
        (keys[slot] + block * chunk).copyMemory(from: source, byteCount: chunk)
        (values[slot] + block * chunk).copyMemory(from: source + chunk, byteCount: chunk)
    }

    public func layer(_ l: Int) -> KVLayerView {
        let slot = layout.slotOfLayer[l]
        return KVLayerView(keys: keys[slot], values: values[slot], blockSize: blockSize, kvHeads: kvHeads, headDim: headDim, precision: precision)
    }
}
