/// vLLM's per-request `kv_transfer_params`: what a disaggregated request does with its prompt's KV.
///
/// The proxy sends a request to a prefill instance with ``doRemoteDecode`` and the decode
/// instance's KV address; the prefill instance pushes the prompt's KV there layer by layer as
/// it computes it, and answers with ``doRemotePrefill`` and the transfer's id, which the proxy
/// passes on to the decode instance with the same request.
public struct KVTransferParams: Sendable, Equatable {
    /// This instance computes the prompt and sends its KV to ``remoteHost``:``remotePort``.
    public var doRemoteDecode = false
    /// This instance receives the prompt's KV instead of computing it.
    public var doRemotePrefill = false
    /// The transfer's id, the same on both instances (vLLM's `remote_request_id`).
    public var remoteRequestId: String?
    public var remoteHost: String?
    public var remotePort: Int?

    public init(doRemoteDecode: Bool = false, doRemotePrefill: Bool = false, remoteRequestId: String? = nil,
                remoteHost: String? = nil, remotePort: Int? = nil) {
        self.doRemoteDecode = doRemoteDecode
        self.doRemotePrefill = doRemotePrefill
        self.remoteRequestId = remoteRequestId
        self.remoteHost = remoteHost
        self.remotePort = remotePort
    }

    /// Reads the JSON object a client sent (values as JSONSerialization gives them).
    public init(json object: [String: Any]) throws(KVTransferConfigError) {
        func flag(_ key: String) throws(KVTransferConfigError) -> Bool {
            guard let value = object[key] else { return false }
            guard let b = value as? Bool else { throw .invalid("kv_transfer_params.\(key) must be a boolean") }
            return b
        }
        doRemoteDecode = try flag("do_remote_decode")
        doRemotePrefill = try flag("do_remote_prefill")
        if let id = object["remote_request_id"] {
            guard let s = id as? String, !s.isEmpty, s.utf8.count <= 256 else {
                throw .invalid("kv_transfer_params.remote_request_id must be a string of 1 to 256 bytes")
            }
            remoteRequestId = s
        }
        if let host = object["remote_host"] {
            guard let s = host as? String, !s.isEmpty else { throw .invalid("kv_transfer_params.remote_host must be a string") }
            remoteHost = s
        }
        if let port = object["remote_port"] {
            guard let p = port as? Int, (1...65_535).contains(p) else { throw .invalid("kv_transfer_params.remote_port must be a port number") }
            remotePort = p
        }
        if doRemoteDecode && (remoteRequestId == nil || remoteHost == nil || (remotePort == nil && !isUnixSocket)) {
            throw .invalid("kv_transfer_params with do_remote_decode needs remote_request_id, remote_host and remote_port (or a remote_host of unix:PATH)")
        }
        if doRemotePrefill && remoteRequestId == nil {
            throw .invalid("kv_transfer_params with do_remote_prefill needs remote_request_id")
        }
    }

    /// Whether ``remoteHost`` names a Unix-domain socket (`unix:PATH`).
    public var isUnixSocket: Bool { remoteHost?.hasPrefix("unix:") ?? false }

    /// Where the decode instance takes KV.
    var remoteKey: String? {
        guard let host = remoteHost else { return nil }
        return isUnixSocket ? host : remotePort.map { "\(host):\($0)" }
    }

    /// The JSON object form.
    public var json: [String: Any] {
        var out: [String: Any] = ["do_remote_decode": doRemoteDecode, "do_remote_prefill": doRemotePrefill]
        if let remoteRequestId { out["remote_request_id"] = remoteRequestId }
        if let remoteHost { out["remote_host"] = remoteHost }
        if let remotePort { out["remote_port"] = remotePort }
        return out
    }
}
