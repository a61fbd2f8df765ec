import Foundation
import Hummingbird
import KVTransfer

extension RawBody {
    /// The request's `kv_transfer_params` (disaggregated serving), checked.
    func kvTransferParams() throws(OpenAIError) -> KVTransferParams? {
        guard let value = value(at: ["kv_transfer_params"]), value != .none else { return nil }
        guard let text = value.compactJSON,
              let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw .invalidRequest("kv_transfer_params must be an object.", param: "kv_transfer_params")
        }
        do {
            return try KVTransferParams(json: object)
        } catch {
            throw .invalidRequest(error.description + ".", param: "kv_transfer_params")
        }
    }
}

extension OpenAIServer {
    /// Refuses `kv_transfer_params` this instance's connector cannot honour (silently computing
    /// everything would hide a misconfigured deployment).
    func checkKVTransfer(_ params: KVTransferParams?) throws(OpenAIError) {
        guard let params, params.doRemoteDecode || params.doRemotePrefill else { return }
        guard let info = configuration.kvTransfer else {
            throw .invalidRequest("kv_transfer_params needs an instance started with --kv-transfer-config.", param: "kv_transfer_params")
        }
        if params.doRemoteDecode && !info.role.saves {
            throw .invalidRequest("do_remote_decode needs a kv_producer or kv_both instance; this one is \(info.role.rawValue).", param: "kv_transfer_params")
        }
        if params.doRemotePrefill && !info.role.loads {
            throw .invalidRequest("do_remote_prefill needs a kv_consumer or kv_both instance; this one is \(info.role.rawValue).", param: "kv_transfer_params")
        }
    }

    /// What a prefill instance's response tells the decode instance (vLLM's returned `kv_transfer_params`).
    func responseKVTransferParams(_ params: KVTransferParams?) -> JSON? {
        guard let params, params.doRemoteDecode, let id = params.remoteRequestId else { return nil }
        return ["do_remote_prefill": true, "do_remote_decode": false, "remote_request_id": .string(id)]
    }

    /// `GET /kv_transfer_info`: the connector, role and KV address of this instance (404 without one).
    func kvTransferInfo() throws -> Response {
        guard let info = configuration.kvTransfer else { throw OpenAIError(status: .notFound, message: "This instance has no KV connector (--kv-transfer-config).", type: "not_found_error") }
        return Self.json(["kv_connector": .string(info.connector), "kv_role": .string(info.role.rawValue),
                          "kv_host": .optional(info.host), "kv_port": info.port.map { .int($0) } ?? .null])
    }
}
