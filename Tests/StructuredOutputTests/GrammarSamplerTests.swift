import Foundation
import Testing
@testable import StructuredOutput

@Suite struct GrammarSamplerTests {
    @Test func samplesAreInTheLanguage() throws {
        let g = try Grammar(GrammarDefinition(rules: [
            ("root", .sequence([.text("["), .optional(.sequence([.reference("item"), .star(.sequence([.text(","), .reference("item")]))])), .text("]")])),
            ("item", .choice([.plus(.characters([0x61...0x7A, 0x4E00...0x9FFF], negated: false)), .reference("root")])),
        ]))
        var sampler = GrammarSampler(grammar: g, seed: 7)
        var lengths: Set<Int> = []
        for _ in 0..<200 {
            let bytes = sampler.sample(maxBytes: 40)
            let text = try #require(String(validating: bytes, as: UTF8.self))
            #expect(GrammarMatcher.matches(g, text), "\(text)")
            lengths.insert(bytes.count)
        }
        #expect(lengths.count > 10)
    }

    @Test func sameSeedSameSamples() throws {
        let g = try Grammar(JSONSchemaConverter.anyJSON())
        var a = GrammarSampler(grammar: g, seed: 42), b = GrammarSampler(grammar: g, seed: 42), c = GrammarSampler(grammar: g, seed: 43)
        let sa = (0..<5).map { _ in a.sample(maxBytes: 100) }
        #expect(sa == (0..<5).map { _ in b.sample(maxBytes: 100) })
        #expect(sa != (0..<5).map { _ in c.sample(maxBytes: 100) })
    }

    @Test func budgetBoundsRecursiveGrammars() throws {
        // Deeply recursive grammar: past the budget the walk heads for the shortest completion.
        let g = try Grammar(JSONSchemaConverter.anyJSON())
        var sampler = GrammarSampler(grammar: g, seed: 1)
        for budget in [0, 1, 5, 50] {
            for _ in 0..<50 {
                let bytes = sampler.sample(maxBytes: budget)
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(GrammarMatcher.matches(g, text))
                #expect(bytes.count <= budget + 200, "\(budget): \(bytes.count)")
                _ = try JSONValue(parsing: Data(bytes))
            }
        }
        let lengths = CompletionDistance.shortestRuleLengths(g)
        #expect(lengths[Int(g.root)] == 2)  // "{}"
    }

    // MARK: Corpus

    struct Entry {
        var name: String
        var schema: JSONValue
    }

    static func corpus() throws -> [Entry] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Benchmarks/structured/schemas.jsonl")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let v = try JSONValue(parsing: String(line))
            return Entry(name: v["name"]?.stringValue ?? "?", schema: v["schema"] ?? .null)
        }
    }

    static func compile(_ schema: JSONValue) -> Result<Grammar, GrammarError> {
        Result { () throws(GrammarError) in try Grammar(JSONSchemaConverter.definition(for: schema)) }
    }

    @Test func corpusSamplesSatisfyTheirSchemas() throws {
        let entries = try Self.corpus()
        #expect(entries.count >= 55)
        // PEREGRINE_SCHEMA_SAMPLES=path writes every sample as {"name":…,"instance":…} lines
        // for Scripts/check_schema_coverage.py (full validation with Python's jsonschema).
        var dump: [String] = []
        var compiled = 0
        var times: [Double] = []
        var failures: [String] = []
        for (index, entry) in entries.enumerated() {
            let start = ContinuousClock.now
            let result = Self.compile(entry.schema)
            guard case .success(let grammar) = result else {
                if case .failure(let error) = result {
                    if case .unsupportedSchema = error { failures.append("\(entry.name): \(error)") } else { Issue.record("\(entry.name): \(error)") }
                }
                continue
            }
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            compiled += 1
            var sampler = GrammarSampler(grammar: grammar, seed: UInt64(index))
            for k in 0..<20 {
                let bytes = sampler.sample(maxBytes: [40, 200, 600][k % 3])
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(GrammarMatcher.matches(grammar, text), "\(entry.name): sample does not match its grammar")
                let value: JSONValue
                do {
                    value = try JSONValue(parsing: Data(bytes))
                } catch {
                    Issue.record("\(entry.name): \(error) in \(text)")
                    continue
                }
                #expect((try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil,
                        "\(entry.name): Foundation rejects \(text)")
                dump.append(JSONValue.object([("name", .string(entry.name)), ("instance", value)]).serialized())
                var checker = SchemaCheck(root: entry.schema)
                checker.check(value, against: entry.schema, at: "$")
                if !checker.problems.isEmpty {
                    Issue.record("\(entry.name): \(checker.problems.joined(separator: "; ")) in \(text)")
                }
            }
        }
        if let path = ProcessInfo.processInfo.environment["PEREGRINE_SCHEMA_SAMPLES"] {
            try (dump.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        times.sort()
        let median = times.isEmpty ? 0 : times[times.count / 2]
        print("corpus: \(compiled)/\(entries.count) schemas compile; compile ms median \(String(format: "%.2f", median)) max \(String(format: "%.2f", times.last ?? 0))")
        for f in failures { print("  unsupported: \(f)") }
        #expect(Double(compiled) / Double(entries.count) >= 0.8)
    }
}

/// A small JSON Schema checker for the corpus test: types, enum/const, required, properties,
/// additionalProperties, items/prefixItems and counts, string lengths, number bounds, $ref and
/// anyOf/oneOf/allOf. (Full validation runs in Python's jsonschema, Scripts/check_schema_coverage.py.)
struct SchemaCheck {
    let root: JSONValue
    var problems: [String] = []

    init(root: JSONValue) { self.root = root }

    private func resolve(_ ref: String) -> JSONValue? {
        var node = root
        for token in ref.dropFirst().split(separator: "/") {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[key] else { return nil }
            node = next
        }
        return node
    }

    private func matches(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        var probe = SchemaCheck(root: root)
        probe.check(value, against: schema, at: "")
        return probe.problems.isEmpty
    }

    mutating func check(_ value: JSONValue, against schema: JSONValue, at path: String) {
        if schema == .bool(false) { problems.append("\(path): schema false"); return }
        guard case .object = schema else { return }
        if case .string(let ref)? = schema["$ref"] {
            if let target = resolve(ref) { check(value, against: target, at: path) } else { problems.append("\(path): bad ref") }
        }
        for key in ["anyOf", "oneOf"] {
            if let branches = schema[key]?.arrayValue, !branches.contains(where: { matches(value, $0) }) {
                if !(schema["nullable"] == .bool(true) && value == .null) { problems.append("\(path): no \(key) branch matches") }
            }
        }
        for sub in schema["allOf"]?.arrayValue ?? [] { check(value, against: sub, at: path) }
        if let list = schema["enum"]?.arrayValue, !list.contains(value) { problems.append("\(path): \(value.serialized()) not in enum") }
        if let c = schema["const"], c != value { problems.append("\(path): \(value.serialized()) is not the const") }
        var types: [String] = []
        if case .string(let t)? = schema["type"] { types = [t] }
        if case .array(let list)? = schema["type"] { types = list.compactMap(\.stringValue) }
        if schema["nullable"] == .bool(true), !types.isEmpty { types.append("null") }
        if !types.isEmpty, !types.contains(value.typeName), !(value.typeName == "integer" && types.contains("number")) {
            problems.append("\(path): \(value.typeName) is not \(types)")
            return
        }
        switch value {
        case .object(let members):
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !members.contains(where: { $0.key == name }) {
                problems.append("\(path): required '\(name)' missing")
            }
            let properties = schema["properties"]
            for (key, member) in members {
                if let sub = properties?[key] {
                    check(member, against: sub, at: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] {
                    check(member, against: additional, at: "\(path).\(key)")
                } else if properties != nil || schema["type"] == .string("object") {
                    problems.append("\(path): unexpected property '\(key)' (strict)")
                }
            }
        case .array(let items):
            let prefix = schema["prefixItems"]?.arrayValue ?? []
            for (k, item) in items.enumerated() {
                if k < prefix.count { check(item, against: prefix[k], at: "\(path)[\(k)]") } else if let s = schema["items"] { check(item, against: s, at: "\(path)[\(k)]") }
            }
            if let n = schema["minItems"]?.intValue, items.count < n { problems.append("\(path): fewer than \(n) items") }
            if let n = schema["maxItems"]?.intValue, items.count > n { problems.append("\(path): more than \(n) items") }
        case .string(let s):
            let length = s.unicodeScalars.count
            if let n = schema["minLength"]?.intValue, length < n { problems.append("\(path): shorter than \(n)") }
            if let n = schema["maxLength"]?.intValue, length > n { problems.append("\(path): longer than \(n)") }
            if let p = schema["pattern"]?.stringValue, s.range(of: p, options: .regularExpression) == nil {
                problems.append("\(path): '\(s)' does not match \(p)")
            }
        case .integer, .number:
            let x = value.doubleValue!
            if let m = schema["minimum"]?.doubleValue {
                if schema["exclusiveMinimum"] == .bool(true) ? x <= m : x < m { problems.append("\(path): below minimum") }
            }
            if let m = schema["maximum"]?.doubleValue {
                if schema["exclusiveMaximum"] == .bool(true) ? x >= m : x > m { problems.append("\(path): above maximum") }
            }
            if let m = schema["exclusiveMinimum"]?.doubleValue, x <= m { problems.append("\(path): not above exclusiveMinimum") }
            if let m = schema["exclusiveMaximum"]?.doubleValue, x >= m { problems.append("\(path): not below exclusiveMaximum") }
        default: break
        }
    }
}
