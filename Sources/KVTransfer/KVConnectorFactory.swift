/// Makes the connector a ``KVTransferConfig`` names.
public enum KVConnectorFactory {
    /// The connectors this build has.
    public static let names = ["OffloadingConnector"]

    public static func make(_ config: KVTransferConfig, identity: KVStoreIdentity,
                            warn: @escaping @Sendable (String) -> Void = { _ in }) throws(KVTransferConfigError) -> any KVConnector {
        switch config.connector {
        case "OffloadingConnector":
            do {
                return try OffloadingConnector(config: config, identity: identity, warn: warn)
            } catch {
                throw .invalid(error.description)
            }
        default:
            throw .invalid("unknown kv_connector '\(config.connector)' (this build has: \(names.joined(separator: ", ")))")
        }
    }
}
