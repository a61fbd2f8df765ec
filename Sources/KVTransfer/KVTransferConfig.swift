import Foundation

/// vLLM's `--kv-transfer-config`: which KV connector an instance runs and in which role.
///
/// ```
/// --kv-transfer-config '{"kv_connector":"OffloadingConnector","kv_role":"kv_both",
///                        "kv_connector_extra_config":{"path":"/var/cache/peregrine-kv","max_bytes":10737418240}}'
/// ```
public struct KVTransferConfig: Sendable, Equatable {
    /// What an instance does with KV: produce it (prefill), consume it (decode), or both.
    public enum Role: String, Sendable, Equatable, CaseIterable {
        case producer = "kv_producer"
        case consumer = "kv_consumer"
        case both = "kv_both"

        /// Whether this role saves computed blocks out.
        public var saves: Bool { self != .consumer }
        /// Whether this role loads blocks in.
        public var loads: Bool { self != .producer }
    }

    /// What happens to a request whose external KV could not be loaded (vLLM's `kv_load_failure_policy`).
    public enum LoadFailurePolicy: String, Sendable, Equatable, CaseIterable {
        /// Compute the missing prefix locally.
        case recompute
        /// End the request with an error.
        case fail
    }

    /// The connector's name (`kv_connector`): `OffloadingConnector` or `TCPConnector`.
    public var connector: String
    public var role: Role
    public var loadFailurePolicy: LoadFailurePolicy
    /// `kv_ip` and `kv_port`: where a network connector listens or connects.
    public var ip: String?
    public var port: Int?
    /// `kv_connector_extra_config`: the connector's own settings, as JSON values.
    public var extraConfig: [String: ExtraValue]

    /// One value of `kv_connector_extra_config`.
    public enum ExtraValue: Sendable, Equatable, Decodable {
        case string(String)
        case number(Double)
        case bool(Bool)

        public init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let b = try? value.decode(Bool.self) {
                self = .bool(b)
            } else if let n = try? value.decode(Double.self) {
                self = .number(n)
            } else {
                self = .string(try value.decode(String.self))
            }
        }
    }

    public init(connector: String, role: Role = .both, loadFailurePolicy: LoadFailurePolicy = .recompute,
                ip: String? = nil, port: Int? = nil, extraConfig: [String: ExtraValue] = [:]) {
        self.connector = connector
        self.role = role
        self.loadFailurePolicy = loadFailurePolicy
        self.ip = ip
        self.port = port
        self.extraConfig = extraConfig
    }

    /// Parses vLLM's JSON form. Unknown top-level keys are errors, so a misspelt setting is never
    /// silently ignored.
    public init(json: String) throws(KVTransferConfigError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            throw .invalid("--kv-transfer-config must be a JSON object")
        }
        let known: Set = ["kv_connector", "kv_role", "kv_load_failure_policy", "kv_ip", "kv_port", "kv_connector_extra_config",
                          "kv_buffer_size", "kv_rank", "kv_parallel_size", "engine_id"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalid("unknown key '\(unknown)' in --kv-transfer-config")
        }
        guard let connector = object["kv_connector"] as? String, !connector.isEmpty else {
            throw .invalid("--kv-transfer-config needs \"kv_connector\"")
        }
        self.connector = connector
        let roleName = object["kv_role"] as? String ?? Role.both.rawValue
        guard let role = Role(rawValue: roleName) else {
            throw .invalid("kv_role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), not '\(roleName)'")
        }
        self.role = role
        let policyName = object["kv_load_failure_policy"] as? String ?? LoadFailurePolicy.recompute.rawValue
        guard let policy = LoadFailurePolicy(rawValue: policyName) else {
            throw .invalid("kv_load_failure_policy must be recompute or fail, not '\(policyName)'")
        }
        loadFailurePolicy = policy
        ip = object["kv_ip"] as? String
        if let port = object["kv_port"] {
            guard let number = port as? Int, (0...65_535).contains(number) else { throw .invalid("kv_port must be a port number (0: any free one)") }
            self.port = number
        }
        var extra: [String: ExtraValue] = [:]
        if object["kv_connector_extra_config"] != nil {
            struct Extra: Decodable { var kv_connector_extra_config: [String: ExtraValue] }
            do {
                extra = try JSONDecoder().decode(Extra.self, from: Data(json.utf8)).kv_connector_extra_config
            } catch {
                throw .invalid("kv_connector_extra_config must be an object of strings, numbers and booleans")
            }
        }
        extraConfig = extra
    }

    /// A string setting of `kv_connector_extra_config`.
    public func string(_ key: String) -> String? {
        if case .string(let s) = extraConfig[key] { return s }
        return nil
    }

    /// A boolean setting of `kv_connector_extra_config`.
    public func bool(_ key: String) -> Bool? {
        if case .bool(let b) = extraConfig[key] { return b }
        return nil
    }

    /// A whole-number setting of `kv_connector_extra_config`.
    public func integer(_ key: String) -> Int? {
        if case .number(let n) = extraConfig[key], n.rounded() == n, abs(n) < 9e18 { return Int(n) }
        return nil
    }
}

/// A `--kv-transfer-config` that cannot be used.
public enum KVTransferConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        }
    }
}
