import NIOCore

/// One message between Peregrine processes: a kind and a payload, framed on the wire as
///
/// | bytes | field |
/// |---|---|
/// | 4 | magic `PGTF` |
/// | 2 | format version (1) |
/// | 2 | kind |
/// | 4 | payload length |
/// | length | payload |
///
/// (all integers big-endian, as NIO writes them). The kinds and payloads are the users' own
/// (KV blocks for disaggregation, hidden rows for expert parallelism).
public struct Frame: Sendable, Equatable {
    public static let magic: UInt32 = 0x5047_5446  // "PGTF"
    public static let version: UInt16 = 1
    public static let headerBytes = 12
    /// Largest payload accepted (a bigger length is a protocol error, not an allocation).
    public static let maxPayloadBytes = 64 << 20

    public var kind: UInt16
    public var payload: ByteBuffer

    public init(kind: UInt16, payload: ByteBuffer) {
        self.kind = kind
        self.payload = payload
    }
}

/// Where an endpoint listens or connects.
public enum TransportAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// Reads `unix:PATH` or `HOST:PORT` (the form ``description`` writes); nil for anything else.
    public init?(parsing text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }
}

/// A peer that breaks the framing.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic(UInt32)
    case unsupportedVersion(UInt16)
    case frameTooLarge(Int)

    public var description: String {
        switch self {
        case .badMagic(let m): "not a Peregrine transport peer (magic 0x\(String(m, radix: 16)))"
        case .unsupportedVersion(let v): "transport format version \(v) is not supported (this build speaks \(Frame.version))"
        case .frameTooLarge(let n): "a frame of \(n) bytes is over the \(Frame.maxPayloadBytes)-byte limit"
        }
    }
}

/// Reads frames off a byte stream.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= Frame.headerBytes else { return .needMoreData }
        let start = buffer.readerIndex
        guard let magic = buffer.getInteger(at: start, as: UInt32.self), magic == Frame.magic else {
            throw TransportError.badMagic(buffer.getInteger(at: start, as: UInt32.self) ?? 0)
        }
        let version = buffer.getInteger(at: start + 4, as: UInt16.self)!
        guard version == Frame.version else { throw TransportError.unsupportedVersion(version) }
        let kind = buffer.getInteger(at: start + 6, as: UInt16.self)!
        let length = Int(buffer.getInteger(at: start + 8, as: UInt32.self)!)
        guard length <= Frame.maxPayloadBytes else { throw TransportError.frameTooLarge(length) }
        guard buffer.readableBytes >= Frame.headerBytes + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: Frame.headerBytes)
        let payload = buffer.readSlice(length: length)!
        context.fireChannelRead(wrapInboundOut(Frame(kind: kind, payload: payload)))
        return .continue
    }
}

/// Writes frames onto a byte stream: the header in a buffer of its own, then the payload as it
/// is (not copied; the socket writes both in one gathering write).
public final class FrameEncoder: ChannelOutboundHandler, Sendable {
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard frame.payload.readableBytes <= Frame.maxPayloadBytes else {
            promise?.fail(TransportError.frameTooLarge(frame.payload.readableBytes))
            return
        }
        var header = context.channel.allocator.buffer(capacity: Frame.headerBytes)
        header.writeInteger(Frame.magic)
        header.writeInteger(Frame.version)
        header.writeInteger(frame.kind)
        header.writeInteger(UInt32(frame.payload.readableBytes))
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(frame.payload), promise: promise)
    }
}
