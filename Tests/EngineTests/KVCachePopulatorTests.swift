@testable import Engine
import Foundation
@testable import Models
import Testing

struct KVCachePopulatorTests {
    /// Polls `condition` for up to five seconds (the populator works on its own thread).
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if condition() { return true }
            usleep(1_000)
        }
        return condition()
    }

    @Test func highWaterIsOnePastTheHighestBlockHandedOut() {
        let pool = BlockPool(numBlocks: 8, blockSize: 4, enableCaching: true)
        #expect(pool.highWater == 0)
        let first = pool.getNewBlocks(3)
        #expect(pool.highWater == 3)
        pool.free(first)
        // Blocks 3... come first; the freed ones wait behind them, so the mark only rises.
        _ = pool.getNewBlocks(6)
        #expect(pool.highWater == 8)
    }

    @Test func mapsAheadOfTheHighWaterMarkAndKeepsTheBytes() throws {
        let cache = TinyEngine.model.makeKVCache(numBlocks: 64, blockSize: 4)
        var pattern = [UInt8](repeating: 0, count: cache.bytesPerBlock)
        for i in pattern.indices { pattern[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        // A block in use before its pages are mapped ahead: mapping must not change its bytes.
        pattern.withUnsafeBytes { cache.writeBlock(5, from: $0.baseAddress!) }
        #expect(cache.populate(blocks: 0..<2))
        #expect(cache.isResident(blocks: 0..<2))
        let populator = KVCachePopulator(cache: cache, aheadBlocks: 8)
        #expect(Self.eventually { populator.mappedBlocks == 8 })
        // Less than half the margin used: nothing more to map.
        populator.keepAhead(of: 3)
        usleep(20_000)
        #expect(populator.mappedBlocks == 8)
        populator.keepAhead(of: 5)
        #expect(Self.eventually { populator.mappedBlocks == 13 })
        populator.keepAhead(of: 60)
        #expect(Self.eventually { populator.mappedBlocks == 64 })
        #expect(cache.isResident(blocks: 0..<64))
        populator.stop()
        var read = [UInt8](repeating: 0, count: cache.bytesPerBlock)
        read.withUnsafeMutableBytes { cache.copyBlock(5, into: $0.baseAddress!) }
        #expect(read == pattern)
    }

    @Test func theEngineKeepsItsPoolMappedAheadOfItsRequests() throws {
        var config = EngineConfig(scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 16), blockSize: 4,
                                  kvCacheMemory: TinyEngine.bytes(blocks: 400, blockSize: 4))
        config.kvPopulateAheadBytes = TinyEngine.bytes(blocks: 10, blockSize: 4)
        let engine = try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config)
        let populator = try #require(engine.populator)
        #expect(Self.eventually { populator.mappedBlocks == 10 })
        let prompts = (0..<6).map { i in (0..<(20 + 3 * i)).map { ($0 * 7 + i) % 50 + 3 } }
        for prompt in prompts { _ = try engine.addRequest(.tokens(prompt), params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true)) }
        _ = engine.step()
        let highWater = engine.scheduler.kvCacheManager.blockPool.highWater
        #expect(highWater > 10)
        #expect(Self.eventually { populator.mappedBlocks >= highWater + 5 })
        _ = engine.runToCompletion()
        #expect(TinyEngine.allBlocksFree(engine))

        // --populate-kv-cache: the whole pool is mapped before the engine's first step.
        config.populatesKVCache = true
        let mapsAll = try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config)
        #expect(mapsAll.populator == nil)
        #expect(mapsAll.runner.kvCache.isResident(blocks: 0..<mapsAll.scheduler.kvCacheManager.blockPool.blocks.count))
        config.populatesKVCache = false
        config.kvPopulateAheadBytes = 0
        #expect(try LLMEngine(model: TinyEngine.model, tokenizer: TinyEngine.tokenizer, config: config).populator == nil)
    }
}
