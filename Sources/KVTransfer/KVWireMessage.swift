import Foundation
import NIOCore
import Transport

/// The TCP connector's messages, each one ``Frame`` (kinds below). Strings are a UInt16 length
/// and UTF-8 bytes; integers big-endian.
enum KVWireMessage: Equatable {
    /// First frame of a link: what the sender's blocks are. A receiver whose cache differs answers
    /// ``error(_:)`` and closes the link.
    case hello(KVWireHello)
    /// One layer of some blocks of a transfer (the blocks at `indices` of the request): for each
    /// in turn, keys then values, as ``Models/KVCache/copyLayerBlock(_:block:into:)`` gives them.
    case layerBlocks(transferId: String, layer: Int, indices: [Int], bytes: ByteBuffer)
    /// Every layer of blocks `0..<numBlocks` of the transfer was sent.
    case done(transferId: String, numBlocks: Int)
    case error(String)

    enum Kind: UInt16 {
        case hello = 1, layerBlocks = 4, done = 3, error = 9
    }

    func frame(allocator: ByteBufferAllocator) -> Frame {
        switch self {
        case .hello(let h):
            var b = allocator.buffer(capacity: 256)
            b.writeBytes((try? JSONEncoder().encode(h)) ?? Data())
            return Frame(kind: Kind.hello.rawValue, payload: b)
        case .layerBlocks(let id, let layer, let indices, var bytes):
            var b = allocator.buffer(capacity: Self.layerBlocksHeaderBytes(id, count: indices.count) + bytes.readableBytes)
            Self.writeLayerBlocksHeader(id, layer: layer, indices: indices, into: &b)
            b.writeBuffer(&bytes)
            return Frame(kind: Kind.layerBlocks.rawValue, payload: b)
        case .done(let id, let n):
            var b = allocator.buffer(capacity: 2 + id.utf8.count + 4)
            Self.write(id, into: &b)
            b.writeInteger(UInt32(n))
            return Frame(kind: Kind.done.rawValue, payload: b)
        case .error(let message):
            var b = allocator.buffer(capacity: message.utf8.count)
            b.writeString(message)
            return Frame(kind: Kind.error.rawValue, payload: b)
        }
    }

    /// Reads a frame; nil for an unknown kind or a malformed payload.
    init?(_ frame: Frame) {
        var b = frame.payload
        switch Kind(rawValue: frame.kind) {
        case .hello:
            guard let bytes = b.readBytes(length: b.readableBytes), let h = try? JSONDecoder().decode(KVWireHello.self, from: Data(bytes)) else { return nil }
            self = .hello(h)
        case .layerBlocks:
            guard let id = Self.readString(&b), let layer = b.readInteger(as: UInt16.self), let count = b.readInteger(as: UInt32.self),
                  b.readableBytes >= 4 * Int(count) else { return nil }
            let indices = (0..<Int(count)).map { _ in Int(b.readInteger(as: UInt32.self)!) }
            self = .layerBlocks(transferId: id, layer: Int(layer), indices: indices, bytes: b)
        case .done:
            guard let id = Self.readString(&b), let n = b.readInteger(as: UInt32.self) else { return nil }
            self = .done(transferId: id, numBlocks: Int(n))
        case .error:
            self = .error(b.readString(length: b.readableBytes) ?? "")
        case nil:
            return nil
        }
    }

    /// A ``layerBlocks(transferId:layer:indices:bytes:)`` frame built in one buffer:
    /// `fill(k, destination)` writes the `blockBytes` of the block at `indices[k]`.
    static func layerBlocksFrame(transferId id: String, layer: Int, indices: [Int], blockBytes: Int, allocator: ByteBufferAllocator,
                                 fill: (Int, UnsafeMutableRawPointer) -> Void) -> Frame {
        let dataBytes = blockBytes * indices.count
        var b = allocator.buffer(capacity: layerBlocksHeaderBytes(id, count: indices.count) + dataBytes)
        writeLayerBlocksHeader(id, layer: layer, indices: indices, into: &b)
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: dataBytes) { raw in
            for k in indices.indices { fill(k, raw.baseAddress! + k * blockBytes) }
            return dataBytes
        }
        return Frame(kind: Kind.layerBlocks.rawValue, payload: b)
    }

    private static func layerBlocksHeaderBytes(_ id: String, count: Int) -> Int { 2 + id.utf8.count + 6 + 4 * count }

    private static func writeLayerBlocksHeader(_ id: String, layer: Int, indices: [Int], into b: inout ByteBuffer) {
        write(id, into: &b)
        b.writeInteger(UInt16(layer))
        b.writeInteger(UInt32(indices.count))
        for index in indices { b.writeInteger(UInt32(index)) }
    }

    private static func write(_ s: String, into b: inout ByteBuffer) {
        b.writeInteger(UInt16(s.utf8.count))
        b.writeString(s)
    }

    private static func readString(_ b: inout ByteBuffer) -> String? {
        guard let n = b.readInteger(as: UInt16.self) else { return nil }
        return b.readString(length: Int(n))
    }
}

/// What a sender's KV blocks are; the receiver's must be the same.
struct KVWireHello: Codable, Equatable {
    /// 2: one frame carries a layer of several blocks.
    var version = 2
    var model: String
    var dtype: String
    var blockSize: Int
    var layerBlockBytes: Int
    var numLayers: Int

    /// Why `other` cannot send to this cache, or nil.
    func mismatch(_ other: KVWireHello) -> String? {
        if other.version != version { return "KV wire version \(other.version), this instance speaks \(version)" }
        if other.model != model { return "the sender runs another model" }
        if other.dtype != dtype { return "KV dtype \(other.dtype) sent, this cache is \(dtype)" }
        if other.blockSize != blockSize { return "block size \(other.blockSize) sent, this cache uses \(blockSize)" }
        if other.numLayers != numLayers || other.layerBlockBytes != layerBlockBytes {
            return "\(other.numLayers) layers of \(other.layerBlockBytes) bytes per block sent, this cache has \(numLayers) of \(layerBlockBytes)"
        }
        return nil
    }
}
