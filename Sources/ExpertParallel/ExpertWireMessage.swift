import GGUF
import NIOCore
import Transport

/// The messages between the front of an expert-parallel model and its expert workers, each one
/// ``Frame`` (kinds below; integers big-endian, strings as a UInt16 length and UTF-8).
///
/// A link starts with the worker's ``hello(_:)``. The front then places experts on it with
/// ``prepare(epoch:experts:)`` (answered by ``prepared(epoch:error:)``) and ``commit(epoch:)``,
/// and every MoE layer of every pass sends it a ``dispatch(_:)`` that it answers with a
/// ``result(sequence:computeNanoseconds:output:)`` or a ``failure(sequence:message:)``.
enum ExpertWireMessage {
    case hello(ExpertWorkerHello)
    /// Per MoE layer, the logical experts this rank holds from now on (its slots, in slot order).
    case prepare(epoch: UInt32, experts: [[Int32]])
    /// The experts of `epoch` are loaded beside the old ones (or could not be: `error`).
    case prepared(epoch: UInt32, error: String?)
    /// `epoch`'s placement is the front's: the experts only older placements named are dropped.
    case commit(epoch: UInt32)
    case dispatch(ExpertDispatchMessage)
    case result(sequence: UInt32, computeNanoseconds: UInt64, output: ByteBuffer)
    case failure(sequence: UInt32, message: String)

    enum Kind: UInt16 {
        case hello = 32, prepare = 33, prepared = 34, commit = 35, dispatch = 36, result = 37, failure = 38
    }

    func frame(allocator: ByteBufferAllocator) -> Frame {
        switch self {
        case .hello(let h):
            var b = allocator.buffer(capacity: 32)
            b.writeInteger(h.fingerprint)
            b.writeInteger(UInt32(h.numLayers))
            b.writeInteger(UInt32(h.numExperts))
            b.writeInteger(UInt32(h.hidden))
            return Frame(kind: Kind.hello.rawValue, payload: b)
        case .prepare(let epoch, let experts):
            var b = allocator.buffer(capacity: 8 + experts.reduce(0) { $0 + 4 + 4 * $1.count })
            b.writeInteger(epoch)
            b.writeInteger(UInt32(experts.count))
            for layer in experts {
                b.writeInteger(UInt32(layer.count))
                for e in layer { b.writeInteger(e) }
            }
            return Frame(kind: Kind.prepare.rawValue, payload: b)
        case .prepared(let epoch, let error):
            var b = allocator.buffer(capacity: 8 + (error?.utf8.count ?? 0))
            b.writeInteger(epoch)
            Self.write(error ?? "", into: &b)
            return Frame(kind: Kind.prepared.rawValue, payload: b)
        case .commit(let epoch):
            var b = allocator.buffer(capacity: 4)
            b.writeInteger(epoch)
            return Frame(kind: Kind.commit.rawValue, payload: b)
        case .dispatch(let m):
            return m.input.withUnsafeReadableBytes {
                Self.dispatchFrame(sequence: m.sequence, layer: m.layer, quantized: m.quantized, rowBytes: m.rowBytes, runs: m.runs[...],
                                   rows: $0, allocator: allocator)
            }
        case .result(let sequence, let nanoseconds, var output):
            var b = Self.resultPayload(sequence: sequence, capacity: output.readableBytes, allocator: allocator)
            Self.setResultNanoseconds(nanoseconds, in: &b)
            b.writeBuffer(&output)
            return Frame(kind: Kind.result.rawValue, payload: b)
        case .failure(let sequence, let message):
            var b = allocator.buffer(capacity: 6 + message.utf8.count)
            b.writeInteger(sequence)
            Self.write(message, into: &b)
            return Frame(kind: Kind.failure.rawValue, payload: b)
        }
    }

    /// A dispatch frame written in one pass: its header and runs, then the rows straight from
    /// the layer's buffer (the front's hot path: no intermediate copy).
    static func dispatchFrame(sequence: UInt32, layer: Int, quantized: Bool, rowBytes: Int, runs: ArraySlice<ExpertRun>,
                              rows: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) -> Frame {
        var b = allocator.buffer(capacity: 15 + 8 * runs.count + rows.count)
        b.writeInteger(sequence)
        b.writeInteger(UInt16(layer))
        b.writeInteger(UInt8(quantized ? 1 : 0))
        b.writeInteger(UInt32(rowBytes))
        b.writeInteger(UInt32(runs.count))
        for run in runs {
            b.writeInteger(run.expert)
            b.writeInteger(run.rows)
        }
        b.writeBytes(rows)
        return Frame(kind: Kind.dispatch.rawValue, payload: b)
    }

    /// A result payload with its header written (the compute time left at 0, see
    /// ``setResultNanoseconds(_:in:)``) and room for `capacity` bytes of rows, which the worker
    /// computes straight into it.
    static func resultPayload(sequence: UInt32, capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var b = allocator.buffer(capacity: 16 + capacity)
        b.writeInteger(sequence)
        b.writeInteger(UInt32(0))  // so the rows start 16 bytes in, as aligned as the buffer
        b.writeInteger(UInt64(0))
        return b
    }

    static func setResultNanoseconds(_ nanoseconds: UInt64, in b: inout ByteBuffer) {
        b.setInteger(nanoseconds, at: b.readerIndex + 8)
    }

    /// Reads a frame; nil for an unknown kind or a malformed payload.
    init?(_ frame: Frame) {
        var b = frame.payload
        switch Kind(rawValue: frame.kind) {
        case .hello:
            guard let fingerprint = b.readInteger(as: UInt64.self), let layers = b.readInteger(as: UInt32.self),
                  let experts = b.readInteger(as: UInt32.self), let hidden = b.readInteger(as: UInt32.self) else { return nil }
            self = .hello(ExpertWorkerHello(fingerprint: fingerprint, numLayers: Int(layers), numExperts: Int(experts), hidden: Int(hidden)))
        case .prepare:
            guard let epoch = b.readInteger(as: UInt32.self), let layers = b.readInteger(as: UInt32.self),
                  Int(layers) <= b.readableBytes / 4 else { return nil }
            var experts: [[Int32]] = []
            for _ in 0..<layers {
                guard let n = b.readInteger(as: UInt32.self), Int(n) <= b.readableBytes / 4 else { return nil }
                experts.append((0..<n).map { _ in b.readInteger(as: Int32.self)! })
            }
            self = .prepare(epoch: epoch, experts: experts)
        case .prepared:
            guard let epoch = b.readInteger(as: UInt32.self), let error = Self.readString(&b) else { return nil }
            self = .prepared(epoch: epoch, error: error.isEmpty ? nil : error)
        case .commit:
            guard let epoch = b.readInteger(as: UInt32.self) else { return nil }
            self = .commit(epoch: epoch)
        case .dispatch:
            guard let sequence = b.readInteger(as: UInt32.self), let layer = b.readInteger(as: UInt16.self),
                  let quantized = b.readInteger(as: UInt8.self), let rowBytes = b.readInteger(as: UInt32.self),
                  let count = b.readInteger(as: UInt32.self), Int(count) <= b.readableBytes / 8 else { return nil }
            let runs = (0..<count).map { _ in ExpertRun(expert: b.readInteger(as: Int32.self)!, rows: b.readInteger(as: Int32.self)!) }
            self = .dispatch(ExpertDispatchMessage(sequence: sequence, layer: Int(layer), quantized: quantized != 0,
                                                   rowBytes: Int(rowBytes), runs: runs, input: b))
        case .result:
            guard let sequence = b.readInteger(as: UInt32.self), b.readInteger(as: UInt32.self) != nil,
                  let nanoseconds = b.readInteger(as: UInt64.self) else { return nil }
            self = .result(sequence: sequence, computeNanoseconds: nanoseconds, output: b)
        case .failure:
            guard let sequence = b.readInteger(as: UInt32.self), let message = Self.readString(&b) else { return nil }
            self = .failure(sequence: sequence, message: message)
        case nil:
            return nil
        }
    }

    private static func write(_ s: String, into b: inout ByteBuffer) {
        let bytes = Array(s.utf8.prefix(Int(UInt16.max)))
        b.writeInteger(UInt16(bytes.count))
        b.writeBytes(bytes)
    }

    private static func readString(_ b: inout ByteBuffer) -> String? {
        guard let n = b.readInteger(as: UInt16.self) else { return nil }
        return b.readString(length: Int(n))
    }
}

/// What a worker serves: a fingerprint of its model file and the shape the front checks.
struct ExpertWorkerHello: Equatable {
    var fingerprint: UInt64
    var numLayers, numExperts, hidden: Int

    /// FNV-1a over the file's size, architecture and tensor table: two processes that mapped
    /// different files (or different quantizations) disagree.
    static func fingerprint(of file: GGUFFile) -> UInt64 {
        var text = "\(file.fileSize)|" + ((try? file.metadata.string("general.architecture")) ?? "")
        for t in file.tensors { text += "|\(t.name):\(t.type):\(t.shape):\(t.offset)" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

/// One expert's run of rows in a dispatch (runs follow one another in the input).
struct ExpertRun: Equatable {
    var expert: Int32
    var rows: Int32
}

/// One rank's share of one MoE layer's pass: its rows, grouped in runs by slot.
struct ExpertDispatchMessage {
    var sequence: UInt32
    var layer: Int
    var quantized: Bool
    var rowBytes: Int
    var runs: [ExpertRun]
    /// `rows × rowBytes`: the gathered activations.
    var input: ByteBuffer
}
