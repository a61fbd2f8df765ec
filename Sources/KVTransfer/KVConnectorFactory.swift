/// Makes the connector a ``KVTransferConfig`` names.
public enum KVConnectorFactory {
    /// The connectors this build has.
    public static let names = ["OffloadingConnector", "TCPConnector"]

    /// - Parameters:
    ///   - numLayers: the model's layers; `layerBlockBytes`: bytes of one layer of one block.
    public static func make(_ config: KVTransferConfig, identity: KVStoreIdentity, numLayers: Int = 0, layerBlockBytes: Int = 0,
                            layerWindows: [Int?]? = nil, warn: @escaping @Sendable (String) -> Void = { _ in }) throws(KVTransferConfigError) -> any KVConnector {
        switch config.connector {
        case "TCPConnector":
            return try TCPConnector(config: config, identity: identity, numLayers: numLayers, layerBlockBytes: layerBlockBytes,
                                    layerWindows: layerWindows, warn: warn)
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
