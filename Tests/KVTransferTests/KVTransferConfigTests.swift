import KVTransfer
import Testing

/// vLLM's `--kv-transfer-config` JSON, and the errors a bad one gets.
@Suite struct KVTransferConfigTests {
    @Test func parsesVLLMsFields() throws {
        let config = try KVTransferConfig(json: #"""
            {"kv_connector":"OffloadingConnector","kv_role":"kv_consumer","kv_load_failure_policy":"fail","kv_port":14579,
             "kv_ip":"10.0.0.2","kv_connector_extra_config":{"path":"/tmp/kv","max_bytes":1073741824,"verbose":true}}
            """#)
        #expect(config.connector == "OffloadingConnector")
        #expect(config.role == .consumer && !config.role.saves && config.role.loads)
        #expect(config.loadFailurePolicy == .fail)
        #expect(config.port == 14579 && config.ip == "10.0.0.2")
        #expect(config.string("path") == "/tmp/kv")
        #expect(config.integer("max_bytes") == 1 << 30)
        #expect(config.extraConfig["verbose"] == .bool(true))
        let defaults = try KVTransferConfig(json: #"{"kv_connector":"OffloadingConnector"}"#)
        #expect(defaults.role == .both && defaults.loadFailurePolicy == .recompute && defaults.extraConfig.isEmpty)
    }

    @Test(arguments: [
        ("[]", "JSON object"),
        (#"{"kv_role":"kv_both"}"#, "kv_connector"),
        (#"{"kv_connector":"X","kv_role":"sender"}"#, "kv_role must be one of"),
        (#"{"kv_connector":"X","kv_port":70000}"#, "kv_port"),
        (#"{"kv_connector":"X","kv_load_failure_policy":"retry"}"#, "recompute or fail"),
        (#"{"kv_connector":"X","kv_conector_extra_config":{}}"#, "unknown key 'kv_conector_extra_config'"),
        (#"{"kv_connector":"X","kv_connector_extra_config":{"path":["a"]}}"#, "strings, numbers and booleans"),
    ])
    func badConfigsNameTheProblem(json: String, message: String) {
        #expect {
            try KVTransferConfig(json: json)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func unknownConnectorsAreRefused() throws {
        let config = try KVTransferConfig(json: #"{"kv_connector":"NixlConnector"}"#)
        let identity = KVStoreIdentity(model: "m", dtype: "f16", blockSize: 4, bytesPerBlock: 64, numGroups: 1)
        #expect { try KVConnectorFactory.make(config, identity: identity) } throws: { "\($0)".contains("unknown kv_connector 'NixlConnector'") }
        let noPath = try KVTransferConfig(json: #"{"kv_connector":"OffloadingConnector"}"#)
        #expect { try KVConnectorFactory.make(noPath, identity: identity) } throws: { "\($0)".contains("kv_connector_extra_config.path") }
    }
}
