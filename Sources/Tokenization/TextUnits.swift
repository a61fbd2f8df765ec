/// A byte string cut into characters for the pre-tokenizers.
///
/// Valid UTF-8 sequences become one unit each; every byte of an invalid sequence becomes a unit
/// of its own, classified as U+FFFD. Units keep their byte offsets, so pieces found on characters
/// map back to the original bytes exactly (invalid bytes are never rewritten).
struct TextUnits {
    /// The scalar value of each unit (U+FFFD for an invalid byte).
    var scalars: [UInt32] = []
    /// The character classes of each unit.
    var classes: [CharacterClass] = []
    /// The byte offset of each unit, plus the end offset: unit `i` is `offsets[i]..<offsets[i+1]`.
    var offsets: [Int] = []

    var count: Int { scalars.count }

    /// Cuts `bytes` into units; offsets are relative to `bytes.startIndex`.
    init(_ bytes: UnsafeBufferPointer<UInt8>, classify: Bool = true) {
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        if classify { classes.reserveCapacity(bytes.count) }
        var i = 0
        while i < bytes.count {
            let (scalar, length) = UTF8Scanner.scalar(in: bytes, at: i)
            scalars.append(scalar ?? 0xFFFD)
            if classify { classes.append(CharacterClass.of(scalar ?? 0xFFFD)) }
            offsets.append(i)
            i += length
        }
        offsets.append(bytes.count)
    }
}
