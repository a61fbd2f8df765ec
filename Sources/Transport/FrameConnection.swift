import NIOCore
import NIOPosix

/// One open link to a peer: send frames on it, get the peer's frames through the handler it
/// was opened with. Thread-safe; sends keep their order.
public final class FrameConnection: Sendable, Hashable {
    let channel: any Channel

    init(channel: any Channel) { self.channel = channel }

    /// Queues `frame`; the future completes when it was written (or fails when the link is gone).
    @discardableResult
    public func send(_ frame: Frame) -> EventLoopFuture<Void> {
        channel.writeAndFlush(frame)
    }

    /// Makes a payload buffer of `capacity` bytes.
    public func buffer(capacity: Int) -> ByteBuffer { channel.allocator.buffer(capacity: capacity) }

    /// The link's buffer allocator.
    public var allocator: ByteBufferAllocator { channel.allocator }

    public var isActive: Bool { channel.isActive }

    /// Closes the link (the peer sees it end).
    public func close() { channel.close(promise: nil) }

    public static func == (a: FrameConnection, b: FrameConnection) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// What a link's owner is told: each frame the peer sends, and the end of the link (with the
/// error that ended it, if any).
public struct FrameHandlers: Sendable {
    public var onFrame: @Sendable (FrameConnection, Frame) -> Void
    public var onClose: @Sendable (FrameConnection, (any Error)?) -> Void

    public init(onFrame: @escaping @Sendable (FrameConnection, Frame) -> Void,
                onClose: @escaping @Sendable (FrameConnection, (any Error)?) -> Void = { _, _ in }) {
        self.onFrame = onFrame
        self.onClose = onClose
    }
}

/// Hands a channel's frames to ``FrameHandlers`` and reports its end once.
final class FrameInboundHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Frame
    private let handlers: FrameHandlers
    private var connection: FrameConnection?
    private var error: (any Error)?

    init(handlers: FrameHandlers) { self.handlers = handlers }

    func handlerAdded(context: ChannelHandlerContext) {
        connection = FrameConnection(channel: context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handlers.onFrame(connection!, unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.error = error
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handlers.onClose(connection!, error)
        context.fireChannelInactive()
    }
}

extension ChannelPipeline {
    func addFrameHandlers(_ handlers: FrameHandlers) -> EventLoopFuture<Void> {
        eventLoop.makeCompletedFuture {
            try syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
            try syncOperations.addHandler(FrameEncoder())
            try syncOperations.addHandler(FrameInboundHandler(handlers: handlers))
        }
    }
}

/// Listens for peers (TCP or a Unix-domain socket); each accepted link gets `handlers`.
public final class FrameServer: Sendable {
    private let channel: any Channel

    /// Binds `address` (TCP port 0 picks a free port: see ``port``).
    public init(address: TransportAddress, group: any EventLoopGroup, handlers: FrameHandlers) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { $0.pipeline.addFrameHandlers(handlers) }
        switch address {
        case .tcp(let host, let port): channel = try bootstrap.bind(host: host, port: port).wait()
        case .unix(let path): channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        }
    }

    /// The TCP port bound (nil for a Unix-domain socket).
    public var port: Int? { channel.localAddress?.port }

    /// Stops listening: waits for the socket to close, except on the server's own event loop
    /// (where a wait would block the loop it waits for; the close is then only started).
    public func close() {
        if channel.eventLoop.inEventLoop {
            channel.close(promise: nil)
        } else {
            try? channel.close().wait()
        }
    }
}

/// Opens links to peers.
public enum FrameClient {
    /// Connects to `address`; the returned link's frames and end go to `handlers`.
    public static func connect(_ address: TransportAddress, group: any EventLoopGroup, handlers: FrameHandlers,
                               timeout: TimeAmount = .seconds(5)) throws -> FrameConnection {
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { $0.pipeline.addFrameHandlers(handlers) }
        let channel: any Channel
        switch address {
        case .tcp(let host, let port): channel = try bootstrap.connect(host: host, port: port).wait()
        case .unix(let path): channel = try bootstrap.connect(unixDomainSocketPath: path).wait()
        }
        return FrameConnection(channel: channel)
    }
}
