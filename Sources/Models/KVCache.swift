import Kernels

/// The paged key/value store of every layer: `numBlocks` blocks of `blockSize` token slots.
/// Which request owns which block is the engine's business; the model only reads and writes slots.
public final class KVCache: @unchecked Sendable {
    public let numBlocks: Int
    public let blockSize: Int
    public let numLayers: Int
    public let kvHeads: Int
    public let headDim: Int
    public let precision: KVPrecision
    private let keys: [UnsafeMutableRawPointer]
    private let values: [UnsafeMutableRawPointer]

    public init(numBlocks: Int, blockSize: Int, numLayers: Int, kvHeads: Int, headDim: Int, precision: KVPrecision = .float16) {
        self.precision = precision
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.numLayers = numLayers
        self.kvHeads = kvHeads
        self.headDim = headDim
        let perLayer = numBlocks * blockSize * kvHeads * headDim * precision.bytes
        keys = (0..<numLayers).map { _ in .allocate(byteCount: perLayer, alignment: 64) }
        values = (0..<numLayers).map { _ in .allocate(byteCount: perLayer, alignment: 64) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Bytes one token occupies across all layers.
    public static func bytesPerToken(numLayers: Int, kvHeads: Int, headDim: Int, precision: KVPrecision) -> Int {
        2 * numLayers * kvHeads * headDim * precision.bytes
    }

    public func layer(_ l: Int) -> KVLayerView {
        KVLayerView(keys: keys[l], values: values[l], blockSize: blockSize, kvHeads: kvHeads, headDim: headDim, precision: precision)
    }
}
