import Engine
import Foundation
import KVTransfer
import Kernels
import Models
import Synchronization
import TestSupport
import Testing

/// The disk tier of the prefix cache (`OffloadingConnector`) through the engine: a new engine
/// over the same store (a restart) loads the blocks instead of computing them, with greedy
/// outputs unchanged on every architecture (the hybrid one's sliding-window groups too); bad
/// files are recomputed (or fail the request, as configured); the KV pool is whole after each.
@Suite(.serialized) struct KVOffloadingTests {
    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("kv-offload-\(UUID().uuidString)")
    }

    /// The engines a test made (the suite runs one test at a time).
    nonisolated(unsafe) static var opened: [LLMEngine] = []

    /// Removes a test's store once its engines' saves are on disk: a save still queued would
    /// otherwise write the directory again after it is gone.
    static func remove(_ dir: URL) {
        opened.forEach { $0.close() }
        opened.removeAll()
        try? FileManager.default.removeItem(at: dir)
    }

    static func transfer(_ dir: URL, policy: String = "recompute", role: String = "kv_both", maxBytes: Int = 1 << 30,
                         loadAsync: Bool = true) throws -> KVTransferConfig {
        try KVTransferConfig(json: """
            {"kv_connector":"OffloadingConnector","kv_role":"\(role)","kv_load_failure_policy":"\(policy)",
             "kv_connector_extra_config":{"path":"\(dir.path)","max_bytes":\(maxBytes),"load_async":\(loadAsync)}}
            """)
    }

    static func engine(_ model: any CausalLM, transfer: KVTransferConfig?, identity: String = "tiny",
                       connector: (any KVConnector)? = nil, budget: Int = 64) throws -> LLMEngine {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 300, blockSize: 4, model: model))
        config.kvTransfer = transfer
        config.modelIdentity = identity
        let engine = try LLMEngine(model: model, tokenizer: TinyEngine.tokenizer, config: config, kvConnector: connector)
        opened.append(engine)
        return engine
    }

    /// Prompts of 20–60 tokens, half of them sharing a 24-token head.
    static func prompts(count: Int = 8, seed: UInt64 = 91) -> [[Int]] {
        var rng = SeededRandom(seed: seed)
        let shared = (0..<24).map { _ in Int.random(in: 3..<60, using: &rng) }
        return (0..<count).map { i in
            (i % 2 == 0 ? shared : []) + (0..<Int.random(in: 20...36, using: &rng)).map { _ in Int.random(in: 3..<60, using: &rng) }
        }
    }

    static func run(_ prompts: [[Int]], _ engine: LLMEngine, maxTokens: Int = 6) throws -> [[Int]] {
        let ids = try prompts.map { try engine.addRequest(.tokens($0), params: .greedy(maxTokens: maxTokens)) }
        let results = engine.runToCompletion()
        return ids.map { results[$0]![0].tokenIds }
    }

    @Test(arguments: ["qwen2", "llama", "gemma3", "qwen3moe"], [true, false])
    func restartServesThePromptsFromDiskWithTheSameOutputs(architecture: String, loadAsync: Bool) throws {
        let model = TinyEngine.architectures[architecture]!
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompts = Self.prompts()
        let reference = try Self.run(prompts, Self.engine(model, transfer: nil))

        let first = try Self.engine(model, transfer: Self.transfer(dir))
        #expect(try Self.run(prompts, first) == reference)
        first.close()
        let saved = try #require(first.stats.kvTransfer)
        #expect(saved.savedBlocks > 0 && saved.storedBlocks == saved.savedBlocks)
        #expect(TinyEngine.allBlocksFree(first))

        let restarted = try Self.engine(model, transfer: Self.transfer(dir, loadAsync: loadAsync))
        let ids = try prompts.map { try restarted.addRequest(.tokens($0), params: .greedy(maxTokens: 6)) }
        var tokens: [String: [Int]] = [:], mostWaiting = 0
        while restarted.hasUnfinishedRequests {
            for output in restarted.step() { tokens[output.requestId, default: []] += output.outputs.flatMap(\.tokenIds) }
            mostWaiting = max(mostWaiting, restarted.stats.numWaitingForRemoteKVs)
        }
        #expect(ids.map { tokens[$0] ?? [] } == reference)
        let loaded = try #require(restarted.stats.kvTransfer)
        #expect(loaded.loadedBlocks > 0 && loaded.offloadHits > 0 && loaded.loadFailures == 0)
        #expect(restarted.stats.prefilledTokens < first.stats.prefilledTokens / 3)
        #expect(TinyEngine.allBlocksFree(restarted))
        // Asynchronous loads park requests in WAITING_FOR_REMOTE_KVS; synchronous ones never do.
        #expect((mostWaiting > 0) == loadAsync)
    }

    /// n > 1 after a restart: one completion loads the prompt from disk, its siblings wait for
    /// that load ("not yet") and take the blocks from the prefix cache instead of loading them again.
    @Test func siblingsWaitForOneLoadAndHitThePrefixCache() throws {
        let model = TinyEngine.model
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompt = Self.prompts(count: 1, seed: 6)[0]
        let fullBlocks = (prompt.count - 1) / 4
        let params = SamplingParams(n: 3, temperature: 0.9, seed: 5, maxTokens: 6)
        func run(_ engine: LLMEngine) throws -> [[Int]] {
            let id = try engine.addRequest(.tokens(prompt), params: params)
            return engine.runToCompletion()[id]!.map(\.tokenIds)
        }
        let reference = try run(Self.engine(model, transfer: nil))
        let first = try Self.engine(model, transfer: Self.transfer(dir))
        #expect(try run(first) == reference)
        first.close()
        let restarted = try Self.engine(model, transfer: Self.transfer(dir))
        #expect(try run(restarted) == reference)
        #expect(restarted.stats.kvTransfer?.loadedBlocks == fullBlocks)
        #expect(restarted.stats.prefilledTokens == 3 * (prompt.count - fullBlocks * 4))
        #expect(TinyEngine.allBlocksFree(restarted))
    }

    @Test(arguments: [true, false])
    func corruptFilesAreRecomputedAndReported(loadAsync: Bool) throws {
        let model = TinyEngine.model
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompts = Self.prompts(count: 4, seed: 5)
        let reference = try Self.run(prompts, Self.engine(model, transfer: nil))
        let first = try Self.engine(model, transfer: Self.transfer(dir))
        _ = try Self.run(prompts, first)
        first.close()
        // Flip a byte in the payload of every third file.
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil).filter { $0.pathExtension == "kvb" }.sorted { $0.path < $1.path }
        for url in files.enumerated().filter({ $0.offset % 3 == 0 }).map(\.element) {
            var data = try Data(contentsOf: url)
            data[data.count - 40] ^= 0x01
            try data.write(to: url)
        }
        let restarted = try Self.engine(model, transfer: Self.transfer(dir, loadAsync: loadAsync))
        #expect(try Self.run(prompts, restarted) == reference)
        let stats = try #require(restarted.stats.kvTransfer)
        #expect(stats.loadFailures > 0 && stats.rejectedFiles > 0)
        #expect(TinyEngine.allBlocksFree(restarted))
        // A third engine over the store the second one repaired answers as the reference does
        // (SynchronousLoadTests checks that a short step's blocks are never stored).
        restarted.close()
        let third = try Self.engine(model, transfer: Self.transfer(dir, loadAsync: loadAsync))
        #expect(try Self.run(prompts, third) == reference)
    }

    @Test(arguments: [true, false])
    func failPolicyEndsTheRequestWhoseLoadFailed(loadAsync: Bool) throws {
        let model = TinyEngine.model
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompt = Self.prompts(count: 1, seed: 8)
        let first = try Self.engine(model, transfer: Self.transfer(dir))
        _ = try Self.run(prompt, first)
        first.close()
        for url in try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil) where url.pathExtension == "kvb" {
            var data = try Data(contentsOf: url)
            data[data.count - 1] ^= 0xFF
            try data.write(to: url)
        }
        let restarted = try Self.engine(model, transfer: Self.transfer(dir, policy: "fail", loadAsync: loadAsync))
        let id = try restarted.addRequest(.tokens(prompt[0]), params: .greedy(maxTokens: 4))
        let results = restarted.runToCompletion()
        #expect(results[id]?.first?.finishReason == .abort)
        #expect(results[id]?.first?.tokenIds == [])
        #expect(restarted.stats.kvTransfer?.loadFailures == 1)
        #expect(TinyEngine.allBlocksFree(restarted))
    }

    @Test func anotherModelsBlocksAreNotLoaded() throws {
        let model = TinyEngine.model
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompts = Self.prompts(count: 3, seed: 12)
        let reference = try Self.run(prompts, Self.engine(model, transfer: nil))
        let first = try Self.engine(model, transfer: Self.transfer(dir), identity: "tiny-a")
        _ = try Self.run(prompts, first)
        first.close()
        let other = try Self.engine(model, transfer: Self.transfer(dir), identity: "tiny-b")
        #expect(try Self.run(prompts, other) == reference)
        #expect(other.stats.kvTransfer?.loadedBlocks == 0 && other.stats.kvTransfer?.offloadHits == 0)
        #expect(TinyEngine.allBlocksFree(other))
    }

    /// A connector whose finished transfers reach the engine only when the test lets them, to
    /// watch the states between.
    final class GatedConnector: KVConnector, @unchecked Sendable {
        let inner: OffloadingConnector
        var open = false
        private var held = KVConnectorFinished()

        init(_ inner: OffloadingConnector) { self.inner = inner }

        var savesBlocks: Bool { inner.savesBlocks }
        func numNewMatchedTokens(_ r: KVConnectorRequest, numComputedTokens n: Int) -> (tokens: Int?, loadAsync: Bool) { inner.numNewMatchedTokens(r, numComputedTokens: n) }
        func updateStateAfterAlloc(_ r: KVConnectorRequest, blockIds: [[Int32]], numComputedTokens: Int, numExternalTokens: Int) {
            inner.updateStateAfterAlloc(r, blockIds: blockIds, numComputedTokens: numComputedTokens, numExternalTokens: numExternalTokens)
        }
        func buildConnectorMetadata(saves: [KVRequestTransfer]) -> KVConnectorMetadata { inner.buildConnectorMetadata(saves: saves) }
        func requestFinished(_ id: String, params: KVTransferParams?, blockIds: [[Int32]]) -> Bool {
            // Held loads keep their blocks until their result is let through.
            inner.requestFinished(id, params: params, blockIds: blockIds) || held.receiving[id] != nil || held.sending.contains(id)
                ? markAbandoned(id) : false
        }
        private func markAbandoned(_ id: String) -> Bool {
            if held.receiving.removeValue(forKey: id) != nil { held.sending.append(id) }
            return true
        }
        func registerKVCache(_ cache: KVCache) {}
        func startLoad(_ m: KVConnectorMetadata, cache: KVCache) { inner.startLoad(m, cache: cache) }
        func waitForLayerLoad(_ layer: Int) {}
        func saveLayer(_ layer: Int, cache: KVCache) {}
        func waitForSave(cache: KVCache) { inner.waitForSave(cache: cache) }
        func finished() -> KVConnectorFinished {
            let now = inner.finished()
            held.sending += now.sending
            held.receiving.merge(now.receiving) { $1 }
            guard open else { return KVConnectorFinished() }
            defer { held = KVConnectorFinished() }
            return held
        }
        func waitForProgress(seconds: Double) { inner.waitForProgress(seconds: seconds) }
        func flush() { inner.flush() }
        var stats: KVTransferStats { inner.stats }
    }

    @Test func waitingForRemoteKVsHoldsBlocksButNoBudgetAndAbortsWaitForTheLoad() throws {
        let model = TinyEngine.model
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let prompts = Self.prompts(count: 2, seed: 31)
        let reference = try Self.run(prompts, Self.engine(model, transfer: nil))
        let first = try Self.engine(model, transfer: Self.transfer(dir))
        _ = try Self.run([prompts[0]], first)
        first.close()

        let identity = KVStoreIdentity(model: "tiny", dtype: "\(KVPrecision.float16)", blockSize: 4,
                                       bytesPerBlock: first.runner.kvCache.bytesPerBlock, numGroups: 1)
        let gated = GatedConnector(try OffloadingConnector(config: Self.transfer(dir), identity: identity))
        let engine = try Self.engine(model, transfer: Self.transfer(dir), connector: gated)
        let waiting = try engine.addRequest(.tokens(prompts[0]), params: .greedy(maxTokens: 6))
        let other = try engine.addRequest(.tokens(prompts[1]), params: .greedy(maxTokens: 6))
        var outputs: [String: [Int]] = [:]
        // The stored prompt waits for its blocks; the other one runs to the end meanwhile.
        for _ in 0..<40 where engine.scheduler.request(other) != nil {
            for o in engine.step() { outputs[o.requestId, default: []] += o.outputs.flatMap(\.tokenIds) }
            #expect(engine.scheduler.request(waiting)?.status == .waitingForRemoteKVs)
            #expect(engine.scheduler.numWaitingForRemoteKVs == 1)
        }
        #expect(outputs[other] == reference[1])
        #expect(engine.scheduler.kvCacheManager.blocks(of: waiting).count == prompts[0].count / 4)
        gated.inner.flush()
        gated.open = true
        for o in engine.runToCompletion() { outputs[o.key] = o.value[0].tokenIds }
        #expect(outputs[waiting] == reference[0])
        #expect(engine.stats.kvTransfer?.loadedBlocks == (prompts[0].count - 1) / 4)
        #expect(TinyEngine.allBlocksFree(engine))

        // Aborted while its load is held (a new engine, whose local cache does not have the
        // prompt): its blocks stay out of the pool until the load is through.
        let gatedAgain = GatedConnector(try OffloadingConnector(config: Self.transfer(dir), identity: identity))
        let again = try Self.engine(model, transfer: Self.transfer(dir), connector: gatedAgain)
        let aborted = try again.addRequest(.tokens(prompts[0] + [7, 7, 7, 7, 7]), params: .greedy(maxTokens: 6))
        _ = again.step()
        #expect(again.scheduler.request(aborted)?.status == .waitingForRemoteKVs)
        gatedAgain.inner.flush()
        _ = again.step()
        _ = again.abortRequest(aborted)
        #expect(!TinyEngine.allBlocksFree(again))
        #expect(again.hasUnfinishedRequests)
        gatedAgain.open = true
        _ = again.runToCompletion()
        #expect(TinyEngine.allBlocksFree(again))
    }
}
