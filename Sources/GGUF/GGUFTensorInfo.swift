/// One tensor's entry in the GGUF tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions in GGML order: `shape[0]` is the row length (contiguous), `shape[1]` the number of rows.
    public let shape: [Int]
    public let type: GGMLType
    /// Offset of the data from the start of the data section.
    public let offset: Int

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { type.byteCount(elements: elementCount)! }
    /// Number of rows when viewed as a matrix (`shape[0]` columns each).
    public var rowCount: Int { elementCount / max(shape.first ?? 1, 1) }
}
