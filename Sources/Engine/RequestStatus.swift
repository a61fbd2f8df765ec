/// Where a request is in its life (vLLM's `RequestStatus`).
public enum RequestStatus: Sendable, Equatable {
    case waiting
    /// Waiting for its external KV to arrive (vLLM's `WAITING_FOR_REMOTE_KVS`): it holds its
    /// blocks but no compute budget.
    case waitingForRemoteKVs
    case running
    case preempted
    case finishedStopped
    case finishedLengthCapped
    case finishedAborted

    public var isFinished: Bool {
        switch self {
        case .finishedStopped, .finishedLengthCapped, .finishedAborted: true
        default: false
        }
    }

    /// The OpenAI finish reason of a finished request.
    public var finishReason: FinishReason? {
        switch self {
        case .finishedStopped: .stop
        case .finishedLengthCapped: .length
        case .finishedAborted: .abort
        default: nil
        }
    }
}

/// Why a completion ended.
public enum FinishReason: String, Sendable, Equatable, Codable {
    case stop, length, abort
}

/// What stopped a request that finished with ``FinishReason/stop``.
public enum StopReason: Sendable, Equatable {
    /// An end-of-sequence or end-of-generation token.
    case eos(Int)
    /// One of `stopTokenIds`.
    case token(Int)
    /// One of the stop strings.
    case string(String)
}
