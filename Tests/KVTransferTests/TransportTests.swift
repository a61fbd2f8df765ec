import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import Transport

/// The framed transport over loopback TCP and a Unix-domain socket: frames arrive whole and in
/// order, and a peer that breaks the framing (another magic, another version, an oversized
/// length) is cut off with a typed error.
@Suite struct TransportTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    final class Inbox: Sendable {
        let frames = Mutex<[Frame]>([])
        let closes = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
    }

    static func server(_ address: TransportAddress, _ inbox: Inbox, expecting count: Int) throws -> FrameServer {
        try FrameServer(address: address, group: group, handlers: FrameHandlers(
            onFrame: { _, frame in
                let n = inbox.frames.withLock { $0.append(frame); return $0.count }
                if n == count { inbox.done.signal() }
            },
            onClose: { _, error in
                inbox.closes.withLock { $0.append(error.map { "\($0)" } ?? "closed") }
                inbox.done.signal()
            }))
    }

    @Test(arguments: ["tcp", "unix"])
    func framesArriveWholeAndInOrder(kind: String) throws {
        let inbox = Inbox()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString.prefix(8)).sock").path
        let server = try Self.server(kind == "tcp" ? .tcp(host: "127.0.0.1", port: 0) : .unix(path: path), inbox, expecting: 300)
        defer { server.close() }
        let address: TransportAddress = kind == "tcp" ? .tcp(host: "127.0.0.1", port: server.port!) : .unix(path: path)
        let link = try FrameClient.connect(address, group: Self.group, handlers: FrameHandlers(onFrame: { _, _ in }))
        var last: EventLoopFuture<Void>?
        for i in 0..<300 {
            var payload = link.buffer(capacity: i * 37)
            payload.writeRepeatingByte(UInt8(i % 251), count: i * 37)
            last = link.send(Frame(kind: UInt16(i), payload: payload))
        }
        try last?.wait()
        #expect(inbox.done.wait(timeout: .now() + 10) == .success)
        let frames = inbox.frames.withLock { $0 }
        #expect(frames.count == 300)
        for (i, frame) in frames.enumerated() {
            #expect(frame.kind == UInt16(i) && frame.payload.readableBytes == i * 37)
            #expect(frame.payload.readableBytesView.allSatisfy { $0 == UInt8(i % 251) })
        }
        link.close()
    }

    @Test(arguments: [
        ([0x50, 0x47, 0x54, 0x58, 0, 1, 0, 2, 0, 0, 0, 0] as [UInt8], "not a Peregrine transport peer"),
        ([0x50, 0x47, 0x54, 0x46, 0, 9, 0, 2, 0, 0, 0, 0], "version 9 is not supported"),
        ([0x50, 0x47, 0x54, 0x46, 0, 1, 0, 2, 0x7F, 0xFF, 0xFF, 0xFF], "over the"),
    ])
    func peersThatBreakTheFramingAreCutOff(bytes: [UInt8], message: String) throws {
        let inbox = Inbox()
        let server = try Self.server(.tcp(host: "127.0.0.1", port: 0), inbox, expecting: 1)
        defer { server.close() }
        let channel = try ClientBootstrap(group: Self.group).connect(host: "127.0.0.1", port: server.port!).wait()
        try channel.writeAndFlush(ByteBuffer(bytes: bytes)).wait()
        #expect(inbox.done.wait(timeout: .now() + 10) == .success)
        #expect(inbox.frames.withLock { $0.isEmpty })
        #expect(inbox.closes.withLock { $0.first?.contains(message) == true })
        try? channel.closeFuture.wait()
    }
}
