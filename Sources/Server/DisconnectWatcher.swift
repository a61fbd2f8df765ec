import NIOCore
import Synchronization

/// Watches one HTTP connection for its client going away (end of input, or the channel closing),
/// so that a request in progress can be aborted while the connection otherwise stays open for
/// the next request (keep-alive). One is added to every connection's pipeline.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private struct State {
        var disconnected = false
        var nextKey = 0
        var handlers: [Int: @Sendable () -> Void] = [:]
    }
    private let state = Mutex(State())

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { disconnect() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disconnect()
        context.fireChannelInactive()
    }

    /// Calls `handler` once when the client disconnects, at once if it already has. Returns the
    /// key that ``remove(_:)`` takes, or nil when `handler` has already run.
    func onDisconnect(_ handler: @escaping @Sendable () -> Void) -> Int? {
        let key = state.withLock { s -> Int? in
            guard !s.disconnected else { return nil }
            defer { s.nextKey += 1 }
            s.handlers[s.nextKey] = handler
            return s.nextKey
        }
        if key == nil { handler() }
        return key
    }

    func remove(_ key: Int?) {
        guard let key else { return }
        _ = state.withLock { $0.handlers.removeValue(forKey: key) }
    }

    private func disconnect() {
        let handlers = state.withLock { s -> [@Sendable () -> Void] in
            guard !s.disconnected else { return [] }
            s.disconnected = true
            defer { s.handlers.removeAll() }
            return Array(s.handlers.values)
        }
        for handler in handlers { handler() }
    }
}
