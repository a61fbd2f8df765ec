/// Objects: `properties`, `required`, `additionalProperties`.
///
/// Members come in schema order; required ones always, optional ones may be left out, and
/// additional ones (when allowed) follow. For properties p0…pn-1 two families of rules keep
/// the commas right for every subset:
///
///     first(i) ::= kv(i) rest(i+1) | first(i+1)      (nothing written yet; "| first(i+1)" only if pi is optional)
///     rest(i)  ::= "," kv(i) rest(i+1) | rest(i+1)   (something written; "| rest(i+1)" only if pi is optional)
///     rest(n)  ::= ("," additional-kv)*   or ε
///     first(n) ::= additional-kv rest(n)  (only when additional properties are allowed)
///
/// and the object is `"{" first(0) "}"`, or `"{" first(0)? "}"` when nothing is required.
extension JSONSchemaGrammarBuilder {
    func object(_ schema: JSONValue, hint: String) throws(GrammarError) -> GrammarExpr {
        var declared: [(name: String, schema: JSONValue)] = []
        if let properties = schema["properties"] {
            guard case .object(let members) = properties else { throw .invalidSchema("properties must be an object") }
            declared = members.map { ($0.key, $0.value) }
        }
        var required: [String] = []
        if let list = schema["required"] {
            guard case .array(let items) = list else { throw .invalidSchema("required must be an array of strings") }
            for item in items {
                guard case .string(let name) = item else { throw .invalidSchema("required must be an array of strings") }
                if !required.contains(name) { required.append(name) }
            }
        }
        let additional: JSONValue
        switch schema["additionalProperties"] {
        case nil: additional = .bool(!options.strict)
        case .bool(let b)?: additional = .bool(b)
        case .object(let s)?: additional = s.isEmpty ? .bool(true) : .object(s)
        default: throw .invalidSchema("additionalProperties must be a boolean or a schema")
        }
        let allowsAdditional = additional != .bool(false)

        // Required names without a declared schema take the additionalProperties schema.
        for name in required where !declared.contains(where: { $0.name == name }) {
            guard allowsAdditional else {
                throw .unsupportedSchema(keyword: "required",
                                         reason: "property '\(name)' is required but additionalProperties forbids it")
            }
            declared.append((name, additional))
        }
        // A property whose schema is `false` must not appear.
        var properties: [(name: String, required: Bool, kv: GrammarExpr)] = []
        for (name, subschema) in declared {
            let isRequired = required.contains(name)
            if subschema == .bool(false) {
                if isRequired { throw .unsupportedSchema(keyword: "required", reason: "property '\(name)' is required but its schema is false") }
                continue
            }
            let value = try expr(for: subschema, hint: "\(hint)-\(name)")
            let kv = GrammarExpr.sequence([.text(JSONValue.quoted(name)), colon, value])
            properties.append((name, isRequired, isRequired ? kv : define("\(hint)-\(name)-kv", kv)))
        }

        var additionalKV: GrammarExpr?
        if allowsAdditional {
            let key = declared.isEmpty ? primitive(.string) : keyExcluding(declared.map(\.name), hint: hint)
            additionalKV = define("\(hint)-additional-kv", .sequence([key, colon, try expr(for: additional, hint: "\(hint)-additional")]))
        }

        let n = properties.count
        // rest(i) and first(i), built from the end so each refers to rules already made.
        var rest = [GrammarExpr](repeating: .empty, count: n + 1)
        var first = [GrammarExpr?](repeating: nil, count: n + 1)
        if let additionalKV {
            rest[n] = .star(.sequence([separator, additionalKV]))
            if n > 0 { rest[n] = define("\(hint)-rest-\(n)", rest[n]) }
            first[n] = .sequence([additionalKV, rest[n]])
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            let p = properties[i]
            let take = GrammarExpr.sequence([separator, p.kv, rest[i + 1]])
            let start = GrammarExpr.sequence([p.kv, rest[i + 1]])
            if p.required {
                rest[i] = take
                first[i] = start
            } else {
                rest[i] = define("\(hint)-rest-\(i)", .choice([take, rest[i + 1]]))
                let skip = first[i + 1]
                first[i] = skip.map { define("\(hint)-first-\(i)", .choice([start, $0])) } ?? start
            }
        }
        let open = GrammarExpr.sequence([.text("{"), ws])
        guard let members = first[0] else { return .sequence([open, .text("}")]) }
        if properties.contains(where: \.required) {
            return .sequence([open, members, ws, .text("}")])
        }
        return .sequence([open, .optional(.sequence([members, ws])), .text("}")])
    }

    /// A JSON string key that is none of `names`: a trie over the names' scalars where each
    /// node may end (if no name ends there), leave the trie with any other character, or
    /// follow a child. Escapes always count as leaving the trie.
    func keyExcluding(_ names: [String], hint: String) -> GrammarExpr {
        final class Node {
            var children: [(Unicode.Scalar, Node)] = []
            var terminal = false
        }
        let root = Node()
        for name in names {
            var node = root
            for scalar in name.unicodeScalars {
                if let child = node.children.first(where: { $0.0 == scalar })?.1 {
                    node = child
                } else {
                    let child = Node()
                    node.children.append((scalar, child))
                    node = child
                }
            }
            node.terminal = true
        }
        let tail = GrammarExpr.sequence([.star(primitive(.char)), .text("\"")])
        let tailRule = define("\(hint)-key-tail", tail)
        func expr(_ node: Node) -> GrammarExpr {
            var options: [GrammarExpr] = []
            if !node.terminal { options.append(.text("\"")) }
            var excluded: [ClosedRange<UInt32>] = [0x00...0x1F, 0x22...0x22, 0x5C...0x5C]
            excluded += node.children.map { $0.0.value...$0.0.value }
            options.append(.sequence([.characters(excluded, negated: true), tailRule]))
            options.append(.sequence([primitive(.escape), tailRule]))
            for (scalar, child) in node.children {
                let literal = JSONValue.quoted(String(Character(scalar))).dropFirst().dropLast()
                options.append(.sequence([.text(String(literal)), expr(child)]))
            }
            return .choice(options)
        }
        return define("\(hint)-key", .sequence([.text("\""), expr(root)]))
    }
}
