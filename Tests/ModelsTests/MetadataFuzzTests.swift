import Engine
import Foundation
import GGUF
import Kernels
import Models
import TestSupport
import Testing
import Tokenization

/// A GGUF file's metadata is untrusted input: random changes to its values (types, sizes, ids,
/// strings, arrays) make the tokenizer, the model, the chat template, a forward pass and the
/// sampler either work or fail with a typed error, never crash or hang.
@Suite struct MetadataFuzzTests {
    static let base: GGUFFile = {
        var w = GGUFWriter()
        let file = try! GGUFFile(bytes: TinyModel(architecture: "qwen2", seed: 61).write())
        for (k, v) in file.metadata.entries { w.set(k, v) }
        w.set("tokenizer.chat_template", .string("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"))
        for t in file.tensors { w.add(.init(name: t.name, shape: t.shape, type: t.type, data: Array(file.tensorData(t)))) }
        return try! GGUFFile(bytes: w.bytes())
    }()

    /// One random replacement for `value`.
    static func mutate(_ value: GGUFValue, _ rng: inout SeededRandom) -> GGUFValue {
        let ints: [Int64] = [-1, 0, 1, 2, 3, 63, 64, 65, 1 << 20, 1 << 31, 1 << 40, .max, .min]
        // Mostly a value of the same type, so that the mutation gets past type checks.
        if Bool.random(using: &rng) {
            let n = ints.randomElement(using: &rng)!
            switch value {
            case .uint32: return .uint32(UInt32(truncatingIfNeeded: n))
            case .int32: return .int32(Int32(truncatingIfNeeded: n))
            case .uint64: return .uint64(UInt64(bitPattern: n))
            case .int64: return .int64(n)
            case .float32: return .float32([.nan, .infinity, -.infinity, -1, 0, 1e-30, 1e30].randomElement(using: &rng)!)
            case .string(let s): return .string(Bool.random(using: &rng) ? String(s.reversed()) : String(s.prefix(Int.random(in: 0...max(0, s.count), using: &rng))))
            default: break
            }
        }
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: return .uint32(UInt32(truncatingIfNeeded: ints.randomElement(using: &rng)!))
        case 1: return .int64(ints.randomElement(using: &rng)!)
        case 2: return .float32([.nan, .infinity, -1, 0, 1e30, 0.5].randomElement(using: &rng)!)
        case 3: return .bool(Bool.random(using: &rng))
        case 4: return .string(["", " ", "\u{0}", "llama", "gpt2", "{{", "{% for %}", String(repeating: "é", count: 300)].randomElement(using: &rng)!)
        case 5: return .array(elementType: .string, values: [])
        case 6: return .array(elementType: .int32, values: (0..<Int.random(in: 0...70, using: &rng)).map { _ in .int32(Int32.random(in: -3...70, using: &rng)) })
        default:
            guard case .array(let t, var values) = value, !values.isEmpty else { return value }
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: values.removeLast(Int.random(in: 1...values.count, using: &rng))
            case 1: values.append(values.randomElement(using: &rng)!)
            case 2: values[Int.random(in: 0..<values.count, using: &rng)] = values.randomElement(using: &rng)!
            default: values.swapAt(Int.random(in: 0..<values.count, using: &rng), Int.random(in: 0..<values.count, using: &rng))
            }
            return .array(elementType: t, values: values)
        }
    }

    @Test func mutatedMetadataNeverCrashes() throws {
        var rng = SeededRandom(seed: 62)
        let pool = ThreadPool(threadCount: 1)
        let keys = Self.base.metadata.entries.map { $0.key }
        var outcomes: [String: Int] = [:]
        for _ in 0..<4000 {
            var w = GGUFWriter()
            var entries = Self.base.metadata.entries
            var changed: [String] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<keys.count, using: &rng)
                entries[i].1 = Self.mutate(entries[i].1, &rng)
                changed.append("\(keys[i]) = \(String(describing: entries[i].1).prefix(80))")
            }
            if ProcessInfo.processInfo.environment["FUZZ_TRACE"] != nil { FileHandle.standardError.write(Data((changed.joined(separator: "; ") + "\n").utf8)) }
            for (k, v) in entries { w.set(k, v) }
            for t in Self.base.tensors { w.add(.init(name: t.name, shape: t.shape, type: t.type, data: Array(Self.base.tensorData(t)))) }
            outcomes[Self.exercise(w.bytes(), pool: pool, rng: &rng), default: 0] += 1
        }
        print("mutated metadata: \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes["ran", default: 0] > 100, "most mutations should still run: \(outcomes)")
        #expect(outcomes.count > 3, "the mutations should reach several kinds of error: \(outcomes)")
    }

    /// Loads and runs a file as the engine would; returns what happened.
    static func exercise(_ bytes: [UInt8], pool: ThreadPool, rng: inout SeededRandom) -> String {
        let file: GGUFFile, tokenizer: Tokenizer, model: any CausalLM
        do { file = try GGUFFile(bytes: bytes) } catch { return "file" }
        do { tokenizer = try Tokenizer(metadata: file.metadata) } catch { return "tokenizer: \(String(describing: error).prefix(24))" }
        do { model = try ModelArchitectures.load(file: file, pool: pool) } catch { return "model: \(String(describing: error).prefix(20))" }
        let ids = tokenizer.encode("AB C", addSpecial: true).filter { $0 < model.config.vocabSize }
        _ = try? tokenizer.chatTemplate().apply([.user("Hi")], addGenerationPrompt: true)
        guard !ids.isEmpty, model.config.contextLength >= ids.count else { return "ran" }
        let cache = model.makeKVCache(numBlocks: 4, blockSize: 4)
        var batch = ForwardBatch()
        batch.removeAll(blockTableStride: 4, groups: model.kvCacheLayout.numGroups)
        let seq = batch.addSequence(blockTables: model.kvCacheLayout.contiguousBlockTables(sequence: 0, blocks: 4))
        for (i, id) in ids.prefix(12).enumerated() { batch.addToken(Int32(id), position: Int32(i), sequence: seq, wantsLogits: true) }
        let logits = model.forward(batch, cache: cache, workspace: ForwardWorkspace())
        var sampler = Sampler()
        var random = RandomGenerator(seed: 1)
        let v = model.config.vocabSize
        for params in [SamplingParams.greedy(maxTokens: 1), SamplingParams(temperature: 0.8, topK: 5, topP: 0.9, maxTokens: 1)] {
            let token = sampler.sample(UnsafeBufferPointer(rebasing: logits[0..<v]), params: params, rng: &random)
            #expect(token >= 0 && token < v)
        }
        _ = tokenizer.decode(ids)
        return "ran"
    }
}
