/// Turns a JSON Schema into a grammar of the JSON texts that satisfy it (a subset of Draft
/// 2020-12, in the manner of llama.cpp's json-schema-to-grammar and XGrammar's converter).
///
/// Every constraining keyword is either enforced exactly or rejected with
/// ``GrammarError/unsupportedSchema(keyword:reason:)`` naming it; none is silently dropped.
/// Where enforcing a keyword exactly would be costly the grammar allows a well-formed subset
/// of the valid instances instead, never more:
///
/// - integers are written canonically (`0`, `-12`; never `-0`, `1.0` or `1e2`); numbers with
///   `minimum`/`maximum` are written without an exponent;
/// - object members come in the order of `properties` (then `required` names not in
///   `properties`, then additional properties); optional ones may be left out;
/// - `oneOf` is read as `anyOf` (except for branches that each require one more property);
///   with no `type`, the type is inferred from the keywords
///   present (`properties` means object, `minLength` string, and so on);
/// - string formats use their plain forms (upper-case `T`/`Z` in times, no leap seconds, no
///   29 February);
/// - `pattern` must match the whole string (JSON Schema only asks for a match somewhere);
/// - additional property names differ character by character from the declared ones (a
///   name spelled with escapes such as `\u0061` is not recognised as a declared one).
///
/// The grammar's root rule is the schema's value with no whitespace around it; whitespace
/// between tokens follows ``JSONSchemaOptions/whitespace``.
public struct JSONSchemaConverter {
    /// The grammar of JSON texts valid under `schema`.
    ///
    /// - Throws: ``GrammarError/unsupportedSchema(keyword:reason:)`` for a keyword (or keyword
    ///   value) that cannot be enforced, ``GrammarError/invalidSchema(_:)`` for a schema that is
    ///   not valid JSON Schema (a keyword of the wrong type, a `$ref` that points nowhere).
    public static func definition(for schema: JSONValue, options: JSONSchemaOptions = .init()) throws(GrammarError) -> GrammarDefinition {
        let builder = JSONSchemaGrammarBuilder(document: schema, options: options)
        let root = try builder.expr(for: schema, hint: "root")
        return builder.finish(root: root)
    }

    /// Any JSON object (the top level of OpenAI's `response_format: json_object`), with any
    /// JSON values inside.
    public static func anyJSON(options: JSONSchemaOptions = .init()) -> GrammarDefinition {
        let builder = JSONSchemaGrammarBuilder(document: .bool(true), options: options)
        return builder.finish(root: builder.primitive(.object))
    }
}

/// Keyword sets shared by the converter's parts.
enum JSONSchemaKeywords {
    /// Keywords that never constrain an instance.
    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "example", "$schema", "$id", "id", "$comment",
        "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor", "$vocabulary",
        "contentMediaType", "contentEncoding", "discriminator", "xml", "externalDocs",
        // OpenAPI documents keep their schemas here, for `$ref: #/components/schemas/...`.
        "components",
    ]
    static let objectKeywords: Set<String> = ["properties", "required", "additionalProperties", "minProperties"]
    static let arrayKeywords: Set<String> = ["items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems"]
    static let stringKeywords: Set<String> = ["minLength", "maxLength", "pattern", "format"]
    static let numberKeywords: Set<String> = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    static let general: Set<String> = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "nullable"]
    static let handled = general.union(objectKeywords).union(arrayKeywords).union(stringKeywords).union(numberKeywords)
    static let types = ["null", "boolean", "object", "array", "string", "integer", "number"]

    static func isAnnotation(_ key: String) -> Bool {
        annotations.contains(key) || key.hasPrefix("x-")
    }
}

/// Builds one ``GrammarDefinition`` from a schema document: shared primitive rules, one rule
/// per `$ref` target (so recursive schemas become recursive rules), and one rule per distinct
/// object, array or constrained subschema (equal subschemas share their rule).
final class JSONSchemaGrammarBuilder {
    let document: JSONValue
    let options: JSONSchemaOptions
    private(set) var rules: [(name: String, expr: GrammarExpr)] = []
    private var names: Set<String> = []
    /// Rule names by subschema text (serialized, so member order counts: it is the grammar's order).
    private var cache: [String: String] = [:]
    private var refRules: [String: String] = [:]
    private var primitives: Set<Primitive> = []

    init(document: JSONValue, options: JSONSchemaOptions) {
        self.document = document
        self.options = options
    }

    func finish(root: GrammarExpr) -> GrammarDefinition {
        let rootName = uniqueName("root")
        var definition = GrammarDefinition(rules: [], root: rootName)
        definition.define(rootName, root)
        for rule in rules { definition.define(rule.name, rule.expr) }
        return definition
    }

    // MARK: Rules

    /// A fresh rule name made of `[A-Za-z0-9-]`, based on `hint`.
    func uniqueName(_ hint: String) -> String {
        var base = String(hint.unicodeScalars.map { scalar -> Character in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                ? Character(scalar) : "-"
        })
        if base.isEmpty { base = "schema" }
        if base.count > 48 { base = String(base.prefix(48)) }
        var name = base
        var k = 2
        while names.contains(name) {
            name = "\(base)-\(k)"
            k += 1
        }
        names.insert(name)
        return name
    }

    /// Defines a rule under a fresh name and returns a reference to it.
    func define(_ hint: String, _ expr: GrammarExpr) -> GrammarExpr {
        let name = uniqueName(hint)
        rules.append((name, expr))
        return .reference(name)
    }

    func contains(rule name: String) -> Bool { names.contains(name) }

    func reserve(_ name: String) { names.insert(name) }

    /// Defines `name` (already reserved with ``uniqueName(_:)`` or ``reserve(_:)``).
    func define(reserved name: String, _ expr: GrammarExpr) {
        rules.append((name, expr))
    }

    // MARK: Schemas

    /// The grammar of the JSON texts valid under `schema`.
    func expr(for schema: JSONValue, hint: String) throws(GrammarError) -> GrammarExpr {
        switch schema {
        case .bool(true): return primitive(.value)
        case .bool(false): throw .unsupportedSchema(keyword: "false", reason: "the schema `false` allows no value here")
        case .object: break
        default: throw .invalidSchema("a schema must be an object or a boolean, not \(schema.serialized())")
        }
        let key = schema.serialized()
        if let name = cache[key] { return .reference(name) }
        let constraining = try checkKeywords(schema)
        if constraining.isEmpty { return primitive(.value) }
        let result = try build(schema, constraining: constraining, hint: hint)
        // Share every non-trivial result by name, so equal subschemas compile once.
        if case .reference = result { return result }
        let name = uniqueName(hint)
        cache[key] = name
        rules.append((name, result))
        return .reference(name)
    }

    /// The constraining keywords of `schema`; throws for one the converter does not know.
    private func checkKeywords(_ schema: JSONValue) throws(GrammarError) -> [String] {
        var out: [String] = []
        for (key, value) in schema.objectMembers ?? [] {
            if JSONSchemaKeywords.isAnnotation(key) { continue }
            switch (key, value) {
            case ("uniqueItems", .bool(false)), ("minProperties", .integer(0)): continue
            case ("uniqueItems", _):
                throw .unsupportedSchema(keyword: key, reason: "a grammar cannot keep array items distinct")
            case ("minProperties", _):
                throw .unsupportedSchema(keyword: key, reason: "property counts are not enforced")
            default: break
            }
            guard JSONSchemaKeywords.handled.contains(key) else {
                throw .unsupportedSchema(keyword: key, reason: "the keyword cannot be enforced by a grammar here")
            }
            out.append(key)
        }
        return out
    }

    private func build(_ schema: JSONValue, constraining: [String], hint: String) throws(GrammarError) -> GrammarExpr {
        let keys = Set(constraining)
        if let ref = schema["$ref"] {
            try requireAlone("$ref", keys, allowing: [])
            guard case .string(let pointer) = ref else { throw .invalidSchema("$ref must be a string") }
            return try reference(pointer)
        }
        if let all = schema["allOf"] {
            guard case .array(let parts) = all, !parts.isEmpty else { throw .invalidSchema("allOf must be a non-empty array") }
            guard parts.count == 1 else {
                throw .unsupportedSchema(keyword: "allOf", reason: "only a single subschema is supported, not \(parts.count)")
            }
            try requireAlone("allOf", keys, allowing: [])
            return try expr(for: parts[0], hint: hint)
        }
        if keys.contains("anyOf") || keys.contains("oneOf") {
            guard !(keys.contains("anyOf") && keys.contains("oneOf")) else {
                throw .unsupportedSchema(keyword: "oneOf", reason: "anyOf and oneOf together are not supported")
            }
            let keyword = keys.contains("anyOf") ? "anyOf" : "oneOf"
            guard case .array(var branches) = schema[keyword]!, !branches.isEmpty else {
                throw .invalidSchema("\(keyword) must be a non-empty array")
            }
            let siblings = keys.subtracting([keyword, "nullable"])
            if !siblings.isEmpty {
                // Siblings merge into branches that only add `required` (the common "one of
                // these properties must be present" pattern); anything else is unsupported.
                guard let merged = try mergeRequiredBranches(schema, keyword: keyword, branches) else {
                    throw .unsupportedSchema(keyword: keyword,
                                             reason: "combined with sibling keywords \(siblings.sorted().joined(separator: ", "))")
                }
                branches = merged
            }
            var options: [GrammarExpr] = []
            for (k, branch) in branches.enumerated() where branch != .bool(false) {
                options.append(try expr(for: branch, hint: "\(hint)-\(k)"))
            }
            if try nullable(schema) { options.append(primitive(.null)) }
            guard !options.isEmpty else { throw .unsupportedSchema(keyword: keyword, reason: "no branch allows any value") }
            return .choice(options)
        }
        if keys.contains("enum") || keys.contains("const") {
            return try enumeration(schema, keys: keys, hint: hint)
        }
        let typed = JSONSchemaKeywords.objectKeywords.union(JSONSchemaKeywords.arrayKeywords)
            .union(JSONSchemaKeywords.stringKeywords).union(JSONSchemaKeywords.numberKeywords)
        if schema["type"] == nil, keys.isDisjoint(with: typed) {
            _ = try nullable(schema)
            return primitive(.value)  // e.g. only `nullable`: any value
        }
        var alternatives: [GrammarExpr] = []
        for type in try types(of: schema, keys: keys) {
            switch type {
            case "null": alternatives.append(primitive(.null))
            case "boolean": alternatives.append(primitive(.boolean))
            case "object": alternatives.append(try object(schema, hint: hint))
            case "array": alternatives.append(try array(schema, hint: hint))
            case "string": alternatives.append(try string(schema, hint: hint))
            case "integer": alternatives.append(try integer(schema))
            default: alternatives.append(try number(schema))
            }
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    /// `schema` without `keyword`, merged into each branch, when every branch constrains
    /// nothing but `required` (the union of required lists is then exact); else nil.
    ///
    /// For `oneOf` where each branch requires one more property, branch i also forbids the
    /// other branches' properties, so exactly one branch matches; otherwise `oneOf` is read as
    /// `anyOf`.
    private func mergeRequiredBranches(_ schema: JSONValue, keyword: String, _ branches: [JSONValue]) throws(GrammarError) -> [JSONValue]? {
        var base = schema.objectMembers ?? []
        base.removeAll { $0.key == keyword || $0.key == "nullable" || JSONSchemaKeywords.isAnnotation($0.key) }
        let existing = schema["required"]?.arrayValue ?? []
        var extras: [[JSONValue]] = []
        for branch in branches {
            guard case .object(let members) = branch,
                  members.allSatisfy({ $0.key == "required" || JSONSchemaKeywords.isAnnotation($0.key) }) else { return nil }
            guard case .array(let names) = branch["required"] ?? .array([]) else {
                throw .invalidSchema("required must be an array of strings")
            }
            extras.append(names.filter { !existing.contains($0) })
        }
        let exclusive = keyword == "oneOf" && extras.allSatisfy { $0.count == 1 } && Set(extras.map { $0[0] }).count == extras.count
        var out: [JSONValue] = []
        for (i, extra) in extras.enumerated() {
            var merged = base
            merged.removeAll { $0.key == "required" }
            merged.append(("required", .array(existing + extra)))
            if exclusive {
                var properties = schema["properties"]?.objectMembers ?? []
                for (j, other) in extras.enumerated() where j != i {
                    guard case .string(let name) = other[0] else { throw .invalidSchema("required must be an array of strings") }
                    properties.removeAll { $0.key == name }
                    properties.append((name, .bool(false)))
                }
                merged.removeAll { $0.key == "properties" }
                merged.append(("properties", .object(properties)))
            }
            out.append(.object(merged))
        }
        return out
    }

    /// Throws unless `keyword` is the only constraining keyword (besides `allowing`).
    private func requireAlone(_ keyword: String, _ keys: Set<String>, allowing: Set<String>) throws(GrammarError) {
        let others = keys.subtracting([keyword]).subtracting(allowing).sorted()
        guard others.isEmpty else {
            throw .unsupportedSchema(keyword: keyword, reason: "combined with sibling keywords \(others.joined(separator: ", "))")
        }
    }

    func nullable(_ schema: JSONValue) throws(GrammarError) -> Bool {
        switch schema["nullable"] {
        case nil: return false
        case .bool(let b): return b
        default: throw .invalidSchema("nullable must be a boolean")
        }
    }

    /// The instance types the schema allows, in a fixed order: `type` when present (a name or
    /// a list), else the types its keywords are about (all types when none is).
    func types(of schema: JSONValue, keys: Set<String>) throws(GrammarError) -> [String] {
        var declared: Set<String>
        switch schema["type"] {
        case .string(let t)?:
            declared = [t]
        case .array(let list)?:
            declared = []
            for item in list {
                guard case .string(let t) = item else { throw .invalidSchema("type must be a string or a list of strings") }
                declared.insert(t)
            }
            guard !declared.isEmpty else { throw .invalidSchema("type must not be an empty list") }
        case nil:
            declared = []
            if !keys.isDisjoint(with: JSONSchemaKeywords.objectKeywords) { declared.insert("object") }
            if !keys.isDisjoint(with: JSONSchemaKeywords.arrayKeywords) { declared.insert("array") }
            if !keys.isDisjoint(with: JSONSchemaKeywords.stringKeywords) { declared.insert("string") }
            if !keys.isDisjoint(with: JSONSchemaKeywords.numberKeywords) { declared.insert("number") }
            if declared.isEmpty { declared = Set(JSONSchemaKeywords.types) }
        default:
            throw .invalidSchema("type must be a string or a list of strings")
        }
        for t in declared where !JSONSchemaKeywords.types.contains(t) { throw .invalidSchema("unknown type '\(t)'") }
        if try nullable(schema) { declared.insert("null") }
        if declared.contains("number") { declared.remove("integer") }
        return JSONSchemaKeywords.types.filter { declared.contains($0) }
    }

    // MARK: $ref

    private func reference(_ pointer: String) throws(GrammarError) -> GrammarExpr {
        if let name = refRules[pointer] { return .reference(name) }
        guard pointer.hasPrefix("#") else {
            throw .unsupportedSchema(keyword: "$ref", reason: "only references inside the schema (#...) are supported, not '\(pointer)'")
        }
        let target = try resolve(pointer)
        let tail = pointer.split(separator: "/").last.map(String.init) ?? "root"
        let name = uniqueName(pointer == "#" ? "root-ref" : tail)
        refRules[pointer] = name
        let body = try expr(for: target, hint: name)
        define(reserved: name, body)
        return .reference(name)
    }

    /// The subschema at a JSON pointer fragment (`#`, `#/$defs/Name`, `#/definitions/Name`, …).
    private func resolve(_ pointer: String) throws(GrammarError) -> JSONValue {
        let fragment = String(pointer.dropFirst()).removingPercentEncoding ?? String(pointer.dropFirst())
        if fragment.isEmpty { return document }
        guard fragment.hasPrefix("/") else {
            throw .unsupportedSchema(keyword: "$ref", reason: "anchor references like '\(pointer)' are not supported")
        }
        var node = document
        for token in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object:
                guard let next = node[key] else { throw .invalidSchema("$ref '\(pointer)' points nowhere") }
                node = next
            case .array(let items):
                guard let i = Int(key), items.indices.contains(i) else { throw .invalidSchema("$ref '\(pointer)' points nowhere") }
                node = items[i]
            default:
                throw .invalidSchema("$ref '\(pointer)' points nowhere")
            }
        }
        return node
    }

    // MARK: enum and const

    private func enumeration(_ schema: JSONValue, keys: Set<String>, hint: String) throws(GrammarError) -> GrammarExpr {
        var values: [JSONValue]
        var keyword = "enum"
        if let list = schema["enum"] {
            guard case .array(let items) = list else { throw .invalidSchema("enum must be an array") }
            values = items
            if let c = schema["const"] { values = values.filter { $0 == c } }
        } else {
            values = [schema["const"]!]
            keyword = "const"
        }
        if schema["type"] != nil {
            let allowed = try types(of: schema, keys: keys)
            values = values.filter { v in
                allowed.contains(v.typeName) || (v.typeName == "integer" && allowed.contains("number"))
            }
        }
        // Other keywords next to enum: keep the values their grammar accepts.
        var rest = schema.objectMembers ?? []
        rest.removeAll { ["enum", "const", "type", "nullable"].contains($0.key) || JSONSchemaKeywords.isAnnotation($0.key) }
        if !rest.isEmpty {
            var restSchema = rest
            if let t = schema["type"] { restSchema.append(("type", t)) }
            let checker = JSONSchemaGrammarBuilder(document: document, options: options)
            let definition = checker.finish(root: try checker.expr(for: .object(restSchema), hint: "check"))
            let grammar = try Grammar(definition)
            values = values.filter { GrammarMatcher.matches(grammar, $0.serialized()) }
        }
        guard !values.isEmpty else {
            throw .unsupportedSchema(keyword: keyword, reason: "no listed value satisfies the rest of the schema")
        }
        var seen: Set<String> = []
        var options: [GrammarExpr] = []
        for v in values where seen.insert(v.serialized()).inserted {
            options.append(literalJSON(v))
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    /// The compact serialization of `value`, as a literal.
    func literalJSON(_ value: JSONValue) -> GrammarExpr {
        .text(value.serialized())
    }

    // MARK: Keyword values

    /// A non-negative integer keyword (`minLength`, `maxItems`, …), nil when absent.
    func count(_ schema: JSONValue, _ key: String) throws(GrammarError) -> Int? {
        guard let v = schema[key] else { return nil }
        guard let n = v.intValue, n >= 0 else { throw .invalidSchema("\(key) must be a non-negative integer") }
        return n
    }
}
