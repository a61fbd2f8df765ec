import Foundation
import KVTransfer
import Models
import Testing

/// The disk tier's synchronous loads (`"load_async": false`), at the connector: a load that
/// comes short is reported by `takeLoadErrors()` with the tokens that arrived, and the blocks of
/// that request's step are not stored (they were computed on the missing block).
@Suite struct SynchronousLoadTests {
    @Test func aShortLoadIsReportedAndItsStepIsNotSaved() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kv-sync-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = KVCache(numBlocks: 8, blockSize: 4, layout: KVCacheLayout(layerTypes: [.full, .full]), kvHeads: 1, headDim: 8)
        let identity = KVStoreIdentity(model: "m", dtype: "f16", blockSize: 4, bytesPerBlock: cache.bytesPerBlock, numGroups: 1)
        let config = try KVTransferConfig(json: """
            {"kv_connector":"OffloadingConnector","kv_role":"kv_both","kv_connector_extra_config":{"path":"\(dir.path)","load_async":false}}
            """)
        let connector = try OffloadingConnector(config: config, identity: identity)
        let keys = (1...3).map { KVBlockKey(high: UInt64($0) &* 0x9E37_79B9, low: UInt64($0)) }
        let tokens = (0..<13).map { $0 + 10 }
        let payload = [UInt8](repeating: 7, count: cache.bytesPerBlock)
        // Blocks 0 and 2 are stored; block 1 is missing, so the load stops after block 0.
        for i in [0, 2] {
            try payload.withUnsafeBytes { try connector.store.write(keys[i], tokens: Array(tokens[(i * 4)..<(i * 4 + 4)]), payload: $0) }
        }
        let request = KVConnectorRequest(requestId: "r", tokenIds: tokens, blockKeys: keys, numPromptTokens: 13, params: nil)
        #expect(connector.numNewMatchedTokens(request, numComputedTokens: 0) == (4, false))
        // Say the scheduler asked for blocks 0...1 (as if block 1 had been there when it looked).
        connector.updateStateAfterAlloc(request, blockIds: [[0, 1, 2, 3]], numComputedTokens: 0, numExternalTokens: 8)
        let saves = [KVRequestTransfer(requestId: "r", blocks: (0..<3).map { i in
            KVBlockTransfer(index: i, key: keys[i], tokenIds: Array(tokens[(i * 4)..<(i * 4 + 4)]), blockIds: [Int32(i)])
        })]
        let metadata = connector.buildConnectorMetadata(saves: saves)
        connector.startLoad(metadata, cache: cache)
        connector.waitForSave(cache: cache)
        connector.flush()
        #expect(connector.takeLoadErrors() == ["r": 4])
        #expect(connector.takeLoadErrors().isEmpty)
        #expect(!connector.store.contains(keys[1]), "a block of a step that lacked its loaded KV was stored")
        #expect(connector.stats.loadFailures == 1 && connector.stats.loadedBlocks == 1)
        #expect(connector.finished().isEmpty)
    }
}
