import Engine
import Foundation
import KVTransfer
import Kernels
import Models
import TestSupport
import Testing

/// Prefill/decode disaggregation in process, over loopback TCP: a producer engine computes each
/// prompt (max_tokens 1, do_remote_decode) and pushes its KV layer by layer to a consumer engine,
/// whose request (do_remote_prefill) loads it instead of computing it. Greedy outputs equal one
/// colocated engine's; a producer that stops part-way, dies, never comes, or runs another
/// model leaves the consumer recomputing what it lacks; the KV pools end whole.
@Suite(.serialized) struct KVDisaggregationTests {
    static func engine(_ model: any CausalLM = TinyEngine.model, role: String?, identity: String = "tiny", timeout: Int = 30,
                       budget: Int = 64) throws -> LLMEngine {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: budget, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 300, blockSize: 4, model: model))
        if let role {
            config.kvTransfer = try KVTransferConfig(json: """
                {"kv_connector":"TCPConnector","kv_role":"\(role)","kv_port":0,"kv_connector_extra_config":{"timeout_seconds":\(timeout)}}
                """)
        }
        config.modelIdentity = identity
        return try LLMEngine(model: model, tokenizer: TinyEngine.tokenizer, config: config)
    }

    static func port(_ consumer: LLMEngine) -> Int { (consumer.kvConnector as! TCPConnector).port! }

    static func prefill(_ prompt: [Int], id: String, on producer: LLMEngine, to port: Int) throws {
        var params = SamplingParams.greedy(maxTokens: 1)
        params.kvTransferParams = KVTransferParams(doRemoteDecode: true, remoteRequestId: id, remoteHost: "127.0.0.1", remotePort: port)
        _ = try producer.addRequest(.tokens(prompt), params: params)
        _ = producer.runToCompletion()
        producer.close()
    }

    static func decode(_ prompt: [Int], id: String, on consumer: LLMEngine, maxTokens: Int = 6) throws -> String {
        var params = SamplingParams.greedy(maxTokens: maxTokens)
        params.kvTransferParams = KVTransferParams(doRemotePrefill: true, remoteRequestId: id)
        return try consumer.addRequest(.tokens(prompt), params: params)
    }

    @Test(arguments: ["qwen2", "gemma3", "qwen3moe"])
    func decodeInstanceLoadsThePromptAndKeepsGreedyOutputs(architecture: String) throws {
        let model = TinyEngine.architectures[architecture]!
        let prompts = KVOffloadingTests.prompts(count: 6, seed: 40)
        let reference = try KVOffloadingTests.run(prompts, Self.engine(model, role: nil))
        let consumer = try Self.engine(model, role: "kv_consumer")
        let producer = try Self.engine(model, role: "kv_producer", budget: 16)  // chunked: layer-wise over several steps
        var ids: [String] = []
        for (i, prompt) in prompts.enumerated() {
            try Self.prefill(prompt, id: "t\(i)", on: producer, to: Self.port(consumer))
            ids.append(try Self.decode(prompt, id: "t\(i)", on: consumer))
        }
        let results = consumer.runToCompletion()
        #expect(ids.map { results[$0]![0].tokenIds } == reference)
        let stats = try #require(consumer.stats.kvTransfer)
        let expected = prompts.reduce(0) { $0 + ($1.count - 1) / 4 }
        // Every full prompt block arrived, but those the consumer's own prefix cache had (the
        // hybrid model's requests are not all scheduled in one step, so later ones hit earlier ones).
        #expect(stats.loadedBlocks + consumer.stats.prefixCache.hits / 4 == expected && stats.loadFailures == 0)
        #expect(consumer.stats.prefilledTokens == prompts.reduce(0) { $0 + $1.count - ($1.count - 1) / 4 * 4 })
        #expect(TinyEngine.allBlocksFree(consumer) && TinyEngine.allBlocksFree(producer))
    }

    @Test func decodeRequestThatArrivesFirstWaitsForTheProducer() throws {
        let prompts = KVOffloadingTests.prompts(count: 2, seed: 41)
        let reference = try KVOffloadingTests.run(prompts, Self.engine(role: nil))
        let consumer = try Self.engine(role: "kv_consumer")
        let producer = try Self.engine(role: "kv_producer", budget: 8)
        let ids = try prompts.indices.map { try Self.decode(prompts[$0], id: "early\($0)", on: consumer) }
        _ = consumer.step()
        #expect(consumer.scheduler.numWaitingForRemoteKVs == 2)
        for (i, prompt) in prompts.enumerated() {
            var params = SamplingParams.greedy(maxTokens: 1)
            params.kvTransferParams = KVTransferParams(doRemoteDecode: true, remoteRequestId: "early\(i)", remoteHost: "127.0.0.1",
                                                       remotePort: Self.port(consumer))
            _ = try producer.addRequest(.tokens(prompt), params: params)
        }
        var outputs: [String: [Int]] = [:]
        while consumer.hasUnfinishedRequests || producer.hasUnfinishedRequests {
            _ = producer.step()
            for o in consumer.step() { outputs[o.requestId, default: []] += o.outputs.flatMap(\.tokenIds) }
        }
        #expect(ids.map { outputs[$0] ?? [] } == reference)
        #expect(consumer.stats.kvTransfer?.loadFailures == 0)
        #expect(TinyEngine.allBlocksFree(consumer) && TinyEngine.allBlocksFree(producer))
    }

    /// n > 1 on the decode side: the first completion loads the transfer; its siblings wait
    /// (the connector answers "not yet") and then take the prompt from the prefix cache.
    @Test(arguments: [false, true])
    func everyCompletionOfAnNRequestTakesTheTransferredPrompt(producerFirst: Bool) throws {
        let prompt = KVOffloadingTests.prompts(count: 1, seed: 43)[0]
        let fullBlocks = (prompt.count - 1) / 4
        var params = SamplingParams(n: 3, temperature: 0.9, seed: 11, maxTokens: 6)
        let referenceEngine = try Self.engine(role: nil)
        let referenceId = try referenceEngine.addRequest(.tokens(prompt), params: params)
        let reference = referenceEngine.runToCompletion()[referenceId]!.map(\.tokenIds)
        let consumer = try Self.engine(role: "kv_consumer")
        let producer = try Self.engine(role: "kv_producer", budget: 8)
        if producerFirst { try Self.prefill(prompt, id: "n3", on: producer, to: Self.port(consumer)) }
        params.kvTransferParams = KVTransferParams(doRemotePrefill: true, remoteRequestId: "n3")
        let id = try consumer.addRequest(.tokens(prompt), params: params)
        if !producerFirst {
            _ = consumer.step()
            #expect(consumer.scheduler.numWaitingForRemoteKVs == 1 && consumer.scheduler.numWaiting == 2)
            try Self.prefill(prompt, id: "n3", on: producer, to: Self.port(consumer))
        }
        let results = consumer.runToCompletion()
        #expect(results[id]!.map(\.tokenIds) == reference)
        #expect(consumer.stats.kvTransfer?.loadedBlocks == fullBlocks && consumer.stats.kvTransfer?.loadFailures == 0)
        // Each completion computes only the prompt's last, partial block.
        #expect(consumer.stats.prefilledTokens == 3 * (prompt.count - fullBlocks * 4))
        #expect(TinyEngine.allBlocksFree(consumer) && TinyEngine.allBlocksFree(producer))
    }

    @Test func producerFaultsLeaveTheConsumerRecomputing() throws {
        let prompts = KVOffloadingTests.prompts(count: 3, seed: 42)
        let reference = try KVOffloadingTests.run(prompts, Self.engine(role: nil))
        let consumer = try Self.engine(role: "kv_consumer", timeout: 1)
        // 0: the producer stops part-way (aborted after its first chunk): done says how far it got.
        do {
            let producer = try Self.engine(role: "kv_producer", budget: 8)
            var params = SamplingParams.greedy(maxTokens: 1)
            params.kvTransferParams = KVTransferParams(doRemoteDecode: true, remoteRequestId: "part", remoteHost: "127.0.0.1", remotePort: Self.port(consumer))
            let id = try producer.addRequest(.tokens(prompts[0]), params: params)
            _ = producer.step()
            _ = producer.abortRequest(id)
            producer.close()
            #expect(TinyEngine.allBlocksFree(producer))
        }
        // 1: the producer dies mid-transfer (its links close without a done).
        do {
            var producer: LLMEngine? = try Self.engine(role: "kv_producer", budget: 8)
            var params = SamplingParams.greedy(maxTokens: 1)
            params.kvTransferParams = KVTransferParams(doRemoteDecode: true, remoteRequestId: "dies", remoteHost: "127.0.0.1", remotePort: Self.port(consumer))
            _ = try producer!.addRequest(.tokens(prompts[1]), params: params)
            _ = producer!.step()
            producer!.close()
            producer = nil
        }
        // 2: no producer ever comes: the transfer times out.
        let ids = [try Self.decode(prompts[0], id: "part", on: consumer), try Self.decode(prompts[1], id: "dies", on: consumer),
                   try Self.decode(prompts[2], id: "never", on: consumer)]
        let results = consumer.runToCompletion()
        #expect(ids.map { results[$0]![0].tokenIds } == reference)
        #expect(consumer.stats.kvTransfer?.loadFailures == 3)
        #expect(TinyEngine.allBlocksFree(consumer))
    }

    @Test func aProducerOfAnotherModelIsRefused() throws {
        let prompt = KVOffloadingTests.prompts(count: 1, seed: 43)
        let reference = try KVOffloadingTests.run(prompt, Self.engine(role: nil))
        let consumer = try Self.engine(role: "kv_consumer", timeout: 1)
        let producer = try Self.engine(role: "kv_producer", identity: "another-model")
        try Self.prefill(prompt[0], id: "foreign", on: producer, to: Self.port(consumer))
        let id = try Self.decode(prompt[0], id: "foreign", on: consumer)
        #expect(consumer.runToCompletion()[id]![0].tokenIds == reference[0])
        #expect(consumer.stats.kvTransfer?.loadedBlocks == 0)
        #expect(TinyEngine.allBlocksFree(consumer))
    }

    /// A decode instance that cannot be reached costs the prefill one failed connect, not one per
    /// layer: the prompt is computed and the request ends as usual.
    @Test func anUnreachableDecodeInstanceDoesNotStallThePrefill() throws {
        let closed: Int = {
            let consumer = try! Self.engine(role: "kv_consumer")
            return Self.port(consumer)  // the consumer (and its port) goes away here
        }()
        let producer = try Self.engine(role: "kv_producer", budget: 8)
        let start = Date()
        try Self.prefill(KVOffloadingTests.prompts(count: 1, seed: 44)[0], id: "nowhere", on: producer, to: closed)
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(TinyEngine.allBlocksFree(producer))
    }

    /// The consumer on a Unix-domain socket (`unix_path`), the producer told `remote_host: unix:PATH`.
    @Test func overAUnixDomainSocket() throws {
        let prompt = KVOffloadingTests.prompts(count: 1, seed: 45)
        let reference = try KVOffloadingTests.run(prompt, Self.engine(role: nil))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgkv-\(UUID().uuidString.prefix(8)).sock").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 300, blockSize: 4))
        config.kvTransfer = try KVTransferConfig(json: #"{"kv_connector":"TCPConnector","kv_role":"kv_consumer","kv_connector_extra_config":{"unix_path":"\#(path)"}}"#)
        config.modelIdentity = "tiny"
        let consumer = try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config)
        #expect((consumer.kvConnector as? TCPConnector)?.unixPath == path)
        let producer = try Self.engine(role: "kv_producer", budget: 8)
        var params = SamplingParams.greedy(maxTokens: 1)
        params.kvTransferParams = KVTransferParams(doRemoteDecode: true, remoteRequestId: "unix", remoteHost: "unix:" + path)
        _ = try producer.addRequest(.tokens(prompt[0]), params: params)
        _ = producer.runToCompletion()
        producer.close()
        let id = try Self.decode(prompt[0], id: "unix", on: consumer)
        #expect(consumer.runToCompletion()[id]![0].tokenIds == reference[0])
        #expect(consumer.stats.kvTransfer?.loadedBlocks == (prompt[0].count - 1) / 4)
        #expect(TinyEngine.allBlocksFree(consumer) && TinyEngine.allBlocksFree(producer))
    }
}
