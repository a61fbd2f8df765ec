import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The server's connection bounds, shared by every connection's ``ConnectionGuard``.
final class ConnectionLimits: Sendable {
    /// Most connections open at once; a request on one more is answered 503 and closed.
    let maxConnections: Int
    /// How long a connection may take to deliver the whole head of its next request, counted from
    /// its opening or from the end of the previous response: slow-header (slowloris) and idle
    /// keep-alive connections are closed after it.
    let requestHeadTimeout: TimeAmount
    private let open = Atomic<Int>(0)

    init(maxConnections: Int, requestHeadTimeout: TimeAmount) {
        self.maxConnections = maxConnections
        self.requestHeadTimeout = requestHeadTimeout
    }

    /// Counts a new connection; false when it is one too many.
    func opened() -> Bool { open.add(1, ordering: .relaxed).newValue <= maxConnections }
    func closed() { open.subtract(1, ordering: .relaxed) }
    var openConnections: Int { open.load(ordering: .relaxed) }
}

/// Enforces ``ConnectionLimits`` on one HTTP connection: a timer for the next request head, and
/// a 503 (then close) for a connection over the cap. One is added to every connection's pipeline.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var counted = false
    private var refused = false
    private var headTimer: Scheduled<Void>?

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head = part {
            headTimer?.cancel()
            headTimer = nil
            if refused { return refuse(context) }
        }
        if refused { return }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { armHeadTimer(context) }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        refused = !limits.opened()
        armHeadTimer(context)
    }

    private func stop() {
        headTimer?.cancel()
        headTimer = nil
        if counted { limits.closed() }
        counted = false
    }

    private func armHeadTimer(_ context: ChannelHandlerContext) {
        headTimer?.cancel()
        let channel = context.channel
        headTimer = context.eventLoop.scheduleTask(in: limits.requestHeadTimeout) { channel.close(promise: nil) }
    }

    /// 503 in OpenAI's error shape, then close.
    private func refuse(_ context: ChannelHandlerContext) {
        let error = OpenAIError.overloaded("The server has \(limits.maxConnections) connections open, its limit; retry later.")
        let body = context.channel.allocator.buffer(bytes: error.json.bytes)
        let head = HTTPResponse(status: .serviceUnavailable, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
