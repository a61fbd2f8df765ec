/// Arrays: `items`, `prefixItems` (and Draft 7's `items` array with `additionalItems`),
/// `minItems`, `maxItems`.
extension JSONSchemaGrammarBuilder {
    func array(_ schema: JSONValue, hint: String) throws(GrammarError) -> GrammarExpr {
        var prefix: [JSONValue] = []
        var items: JSONValue = .bool(true)
        if let p = schema["prefixItems"] {
            guard case .array(let list) = p else { throw .invalidSchema("prefixItems must be an array of schemas") }
            prefix = list
            if let i = schema["items"] { items = i }
        } else if case .array(let list)? = schema["items"] {
            prefix = list  // Draft 7 tuple form
            if let a = schema["additionalItems"] { items = a }
        } else if let i = schema["items"] {
            items = i
        }
        if case .object(let members) = items, members.isEmpty { items = .bool(true) }
        let minItems = try count(schema, "minItems") ?? 0
        var maxItems = try count(schema, "maxItems")
        // A `false` prefix item cuts the array short before it.
        if let cut = prefix.firstIndex(of: .bool(false)) {
            prefix = Array(prefix[..<cut])
            maxItems = min(maxItems ?? cut, cut)
        }
        if items == .bool(false) { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let maxItems, minItems > maxItems {
            throw .unsupportedSchema(keyword: "minItems", reason: "no array has at least \(minItems) and at most \(maxItems) items here")
        }
        if prefix.isEmpty, items == .bool(true), minItems == 0, maxItems == nil { return primitive(.array) }

        let prefixExprs = try prefix.enumerated().map { (k, s) throws(GrammarError) in try expr(for: s, hint: "\(hint)-\(k)") }
        let itemExpr = items == .bool(false) ? nil : try expr(for: items, hint: "\(hint)-item")
        let open = GrammarExpr.sequence([.text("["), ws])
        if maxItems == 0 { return .sequence([open, .text("]")]) }

        // tail(j): the rest of the array after j ≥ 1 items.
        let k = prefixExprs.count
        var tail: GrammarExpr
        if let itemExpr, maxItems.map({ $0 > k }) ?? true {
            let extraMin = max(0, minItems - max(k, 1)), extraMax = maxItems.map { $0 - max(k, 1) }
            tail = .repeat(.sequence([separator, itemExpr]), min: extraMin, max: extraMax)
        } else {
            tail = .empty
        }
        var j = k - 1
        while j >= 1 {
            if let maxItems, j >= maxItems {
                tail = .empty
            } else {
                let next = GrammarExpr.sequence([separator, prefixExprs[j], tail])
                tail = j >= minItems ? .optional(next) : next
            }
            j -= 1
        }
        guard let firstItem = prefixExprs.first ?? itemExpr else { return .sequence([open, .text("]")]) }
        let elements = GrammarExpr.sequence([firstItem, tail])
        if minItems >= 1 { return .sequence([open, elements, ws, .text("]")]) }
        return .sequence([open, .optional(.sequence([elements, ws])), .text("]")])
    }
}
