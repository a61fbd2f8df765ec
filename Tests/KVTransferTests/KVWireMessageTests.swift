import NIOCore
import Testing
import Transport
@testable import KVTransfer

/// The TCP connector's messages: a layer of several blocks is one frame that reads back as it
/// was written, whether built in place or from a message; short or malformed payloads are refused.
@Suite struct KVWireMessageTests {
    static let blockBytes = 24

    static func blockBytes(_ index: Int) -> [UInt8] { (0..<blockBytes).map { UInt8(truncatingIfNeeded: index * 31 + $0) } }

    @Test func aLayerOfSeveralBlocksRoundTrips() throws {
        let indices = [3, 4, 9]
        let built = KVWireMessage.layerBlocksFrame(transferId: "xfer-1", layer: 7, indices: indices, blockBytes: Self.blockBytes,
                                                   allocator: ByteBufferAllocator()) { k, destination in
            Self.blockBytes(indices[k]).withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: Self.blockBytes) }
        }
        guard case .layerBlocks(let id, let layer, let read, let bytes)? = KVWireMessage(built) else {
            Issue.record("not a layerBlocks frame")
            return
        }
        #expect(id == "xfer-1" && layer == 7 && read == indices)
        #expect(Array(bytes.readableBytesView) == indices.flatMap(Self.blockBytes))
        // The message form writes the same frame.
        var payload = ByteBufferAllocator().buffer(capacity: 0)
        payload.writeBytes(indices.flatMap(Self.blockBytes))
        let message = KVWireMessage.layerBlocks(transferId: "xfer-1", layer: 7, indices: indices, bytes: payload)
        #expect(message.frame(allocator: ByteBufferAllocator()) == built)
    }

    @Test func aFrameWithFewerIndexBytesThanItsCountIsRefused() {
        var b = ByteBufferAllocator().buffer(capacity: 0)
        b.writeInteger(UInt16(1))
        b.writeString("x")
        b.writeInteger(UInt16(0))
        b.writeInteger(UInt32(5))  // five indices announced, one given
        b.writeInteger(UInt32(0))
        #expect(KVWireMessage(Frame(kind: KVWireMessage.Kind.layerBlocks.rawValue, payload: b)) == nil)
    }

    @Test func helloVersionsMustAgree() {
        let mine = KVWireHello(model: "m", dtype: "f16", blockSize: 16, layerBlockBytes: 64, numLayers: 2)
        var old = mine
        old.version = 1
        #expect(mine.mismatch(old)?.contains("version 1") == true)
        #expect(mine.mismatch(mine) == nil)
    }
}
