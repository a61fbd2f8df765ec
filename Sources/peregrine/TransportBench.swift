import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Transport

/// `peregrine bench transport`: the framed transport's throughput between two hosts, in the
/// frame size the TCP KV connector sends (one layer of a step's blocks of one request), to
/// compare with the link rate.
struct TransportBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Throughput of the KV transport: one side listens, the other sends frames of a layer of KV blocks each.")

    @Option(help: "Listen on this TCP port and report what arrives (run this side first).")
    var listen: Int?

    @Option(help: "Send to HOST:PORT.")
    var connect: String?

    @Option(help: "Megabytes to send.")
    var megabytes = 512

    @Option(help: "Bytes per frame (SmolLM2: one layer of a 16-token block in f16 is 12288; a 1k-token prompt's 64 blocks, 786432).")
    var frameBytes = 786_432

    @Option(help: "Seconds the listener waits for a sender before it gives up.")
    var seconds = 120

    func validate() throws {
        if (listen == nil) == (connect == nil) { throw ValidationError("give --listen PORT or --connect HOST:PORT") }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        if let listen { return try receive(port: listen, group: group) }
        let parts = connect!.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--connect takes HOST:PORT") }
        let link = try FrameClient.connect(.tcp(host: String(parts[0]), port: port), group: group, handlers: FrameHandlers(onFrame: { _, _ in }))
        var payload = link.buffer(capacity: frameBytes)
        payload.writeRepeatingByte(0x5A, count: frameBytes)
        let frames = megabytes * 1_000_000 / frameBytes
        let start = DispatchTime.now().uptimeNanoseconds
        var last: EventLoopFuture<Void>?
        let framesPerWait = max(1, (64 << 20) / frameBytes)
        for i in 0..<frames {
            last = link.send(Frame(kind: 2, payload: payload))
            // Keep at most ~64 MB queued, as a producer does behind the forward pass.
            if i % framesPerWait == framesPerWait - 1 { try last?.wait() }
        }
        try last?.wait()
        try link.send(Frame(kind: 3, payload: ByteBuffer())).wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let bytes = Double(frames * (frameBytes + Frame.headerBytes))
        print(String(format: "sent %d frames, %.1f MB in %.3f s: %.1f MB/s (%.3f Gbit/s)", frames, bytes / 1e6, seconds,
                     bytes / seconds / 1e6, bytes * 8 / seconds / 1e9))
        link.close()
    }

    private func receive(port: Int, group: any EventLoopGroup) throws {
        struct Tally { var bytes = 0; var frames = 0; var first: UInt64 = 0; var last: UInt64 = 0; var done = false }
        let tally = Mutex(Tally())
        let finished = DispatchSemaphore(value: 0)
        let server = try FrameServer(address: .tcp(host: "0.0.0.0", port: port), group: group, handlers: FrameHandlers(onFrame: { _, frame in
            let now = DispatchTime.now().uptimeNanoseconds
            let end = tally.withLock { t -> Bool in
                if t.frames == 0 { t.first = now }
                if frame.kind == 3 { t.done = true; t.last = now; return true }
                t.frames += 1
                t.bytes += frame.payload.readableBytes + Frame.headerBytes
                return false
            }
            if end { finished.signal() }
        }))
        defer { server.close() }
        print("listening on port \(server.port ?? port)")
        guard finished.wait(timeout: .now() + .seconds(seconds)) == .success else { throw ValidationError("no sender finished within \(seconds) s") }
        let t = tally.withLock { $0 }
        let seconds = Double(t.last - t.first) / 1e9
        print(String(format: "received %d frames, %.1f MB in %.3f s: %.1f MB/s (%.3f Gbit/s)", t.frames, Double(t.bytes) / 1e6, seconds,
                     Double(t.bytes) / seconds / 1e6, Double(t.bytes) * 8 / seconds / 1e9))
    }
}
