import Hummingbird
import NIOCore

/// The server's request context: Hummingbird's basic context plus the connection the request
/// came on, watched for the client going away.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }

    /// The connection's ``DisconnectWatcher`` (nil when the server was built without one).
    var disconnectWatcher: DisconnectWatcher? {
        get async { try? await channel.pipeline.handler(type: DisconnectWatcher.self).get() }
    }
}
