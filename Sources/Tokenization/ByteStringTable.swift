/// A hash map from byte strings to token ids that looks keys up in place, without allocating.
///
/// Open addressing over FNV-1a hashes; keys live back to back in one buffer. Inserting a key
/// again replaces its id (llama.cpp's `token_to_id` keeps the last of duplicate token texts).
struct ByteStringTable: Sendable {
    private var keyBytes: [UInt8] = []
    private var keyStarts: [Int] = [0]
    private var ids: [Int32] = []
    /// Entry index + 1 per slot, 0 when empty; the count is a power of two.
    private var slots: [Int32]

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
    }

    var count: Int { ids.count }

    mutating func insert(_ key: some Collection<UInt8>, id: Int) {
        let bytes = Array(key)
        if let entry = bytes.withUnsafeBufferPointer({ entryIndex(of: $0) }) {
            ids[entry] = Int32(id)
            return
        }
        if (ids.count + 1) * 2 > slots.count { grow() }
        keyBytes.append(contentsOf: bytes)
        keyStarts.append(keyBytes.count)
        ids.append(Int32(id))
        place(entry: ids.count - 1)
    }

    /// The id stored for `key`, if any.
    func id(for key: UnsafeBufferPointer<UInt8>) -> Int? {
        entryIndex(of: key).map { Int(ids[$0]) }
    }

    func id(for key: some Collection<UInt8>) -> Int? {
        Array(key).withUnsafeBufferPointer { id(for: $0) }
    }

    private func entryIndex(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        let mask = slots.count - 1
        var slot = Self.hash(key) & mask
        while true {
            let stored = Int(slots[slot])
            if stored == 0 { return nil }
            let entry = stored - 1
            let start = keyStarts[entry], end = keyStarts[entry + 1]
            if end - start == key.count && keyBytes.withUnsafeBufferPointer({ all in
                key.indices.allSatisfy { all[start + $0] == key[$0] }
            }) {
                return entry
            }
            slot = (slot + 1) & mask
        }
    }

    private mutating func place(entry: Int) {
        let mask = slots.count - 1
        let start = keyStarts[entry], end = keyStarts[entry + 1]
        var slot = keyBytes.withUnsafeBufferPointer { Self.hash(UnsafeBufferPointer(rebasing: $0[start..<end])) } & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        for entry in ids.indices { place(entry: entry) }
    }

    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
