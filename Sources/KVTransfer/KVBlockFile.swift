import Crypto
import Foundation

/// The file a ``KVBlockStore`` keeps one block in, little-endian:
///
/// | bytes | field |
/// |---|---|
/// | 4 | magic `PGKV` |
/// | 4 | format version (1) |
/// | 8 | ``KVStoreIdentity/fingerprint`` |
/// | 16 | block key (high, low) |
/// | 4 | token count |
/// | 4 | KV cache groups |
/// | 8 | payload bytes |
/// | 4 × tokens | the block's token ids |
/// | payload | each group's block bytes, in group order |
/// | 32 | SHA-256 of everything before it |
enum KVBlockFile {
    static let magic: UInt32 = 0x564B_4750  // "PGKV"
    static let version: UInt32 = 1
    static let headerBytes = 48
    static let digestBytes = 32

    /// Why a file was not loaded.
    enum Rejection: Error, Equatable, CustomStringConvertible {
        case truncated
        case notAStoreFile
        case otherVersion(UInt32)
        case otherIdentity
        case otherBlock
        case checksum

        var description: String {
            switch self {
            case .truncated: "truncated"
            case .notAStoreFile: "not a KV store file"
            case .otherVersion(let v): "format version \(v)"
            case .otherIdentity: "written for another model or cache layout"
            case .otherBlock: "holds another block"
            case .checksum: "checksum mismatch (corrupt)"
            }
        }
    }

    /// The header fields.
    struct Header: Equatable {
        var fingerprint: UInt64
        var key: KVBlockKey
        var numTokens: Int
        var numGroups: Int
        var payloadBytes: Int

        var fileBytes: Int { KVBlockFile.headerBytes + 4 * numTokens + payloadBytes + KVBlockFile.digestBytes }
    }

    /// The whole file for one block.
    static func encode(fingerprint: UInt64, key: KVBlockKey, tokens: [Int], numGroups: Int, payload: UnsafeRawBufferPointer) -> Data {
        var data = Data(capacity: headerBytes + 4 * tokens.count + payload.count + digestBytes)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        put(magic)
        put(version)
        put(fingerprint)
        put(key.high)
        put(key.low)
        put(UInt32(tokens.count))
        put(UInt32(numGroups))
        put(UInt64(payload.count))
        for t in tokens { put(Int32(truncatingIfNeeded: t)) }
        data.append(contentsOf: payload)
        let digest = SHA256.hash(data: data)
        data.append(contentsOf: digest)
        return data
    }

    /// Checks a whole file against what the reader expects and returns where its payload starts.
    static func validate(_ bytes: UnsafeRawBufferPointer, fingerprint: UInt64, key: KVBlockKey, tokens: ArraySlice<Int>,
                         numGroups: Int, payloadBytes: Int) throws(Rejection) -> Int {
        let h = try header(bytes)
        guard h.fingerprint == fingerprint, h.numGroups == numGroups, h.payloadBytes == payloadBytes else { throw .otherIdentity }
        guard h.key == key, h.numTokens == tokens.count else { throw .otherBlock }
        guard bytes.count == h.fileBytes else { throw .truncated }
        for (i, t) in tokens.enumerated() {
            let stored = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: headerBytes + 4 * i, as: Int32.self))
            guard stored == Int32(truncatingIfNeeded: t) else { throw .otherBlock }
        }
        let body = bytes.count - digestBytes
        let digest = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: bytes[0..<body]))
        guard digest.elementsEqual(bytes[body...]) else { throw .checksum }
        return headerBytes + 4 * tokens.count
    }

    /// Reads the header of `bytes` (at least ``headerBytes`` of a file).
    static func header(_ bytes: UnsafeRawBufferPointer) throws(Rejection) -> Header {
        guard bytes.count >= headerBytes else { throw .truncated }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        guard get(0, UInt32.self) == magic else { throw .notAStoreFile }
        let v = get(4, UInt32.self)
        guard v == version else { throw .otherVersion(v) }
        let payload = get(40, UInt64.self)
        guard payload < UInt64(Int32.max) else { throw .notAStoreFile }
        return Header(fingerprint: get(8, UInt64.self), key: KVBlockKey(high: get(16, UInt64.self), low: get(24, UInt64.self)),
                      numTokens: Int(get(32, UInt32.self)), numGroups: Int(get(36, UInt32.self)), payloadBytes: Int(payload))
    }
}
