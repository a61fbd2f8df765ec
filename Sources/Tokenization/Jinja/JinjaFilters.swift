#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The filters (`value | name(args)`) the interpreter implements, with Jinja2's arguments and
/// Hugging Face's `tojson` (no HTML escaping, `ensure_ascii=False`).
enum JinjaFilters {
    static let names: Set<String> = [
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "indent", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
        "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper",
    ]
}

extension JinjaRenderer {
    mutating func applyFilter(_ name: String, to value: JinjaValue, _ args: [JinjaValue], _ kwargs: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        func arg(_ i: Int, _ key: String) -> JinjaValue? { i < args.count ? args[i] : kwargs[key] }
        switch name {
        case "abs":
            switch value {
            case .int(let i): return .int(abs(i))
            case .double(let d): return .double(abs(d))
            default: throw error("bad operand type for abs(): '\(value.typeName)'")
            }
        case "capitalize": return .string(try string(value, name).pythonCapitalized)
        case "count", "length":
            switch value {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let a): return .int(a.count)
            case .object(let o): return .int(o.count)
            case .undefined: return .int(0)
            default: throw error("object of type '\(value.typeName)' has no len()")
            }
        case "d", "default":
            let useDefault = arg(1, "boolean")?.isTruthy == true ? !value.isTruthy : !value.isDefined
            return useDefault ? arg(0, "default_value") ?? .string("") : value
        case "e", "escape": return .string(JinjaMethods.htmlEscaped(value.text))
        case "first", "last":
            guard let items = value.iterationElements else { throw error("'\(value.typeName)' object is not iterable") }
            return (name == "first" ? items.first : items.last) ?? .undefined
        case "float":
            if let d = value.number { return .double(d) }
            if case .string(let s) = value, let d = Double(s.trimmingWhitespace) { return .double(d) }
            return arg(0, "default") ?? .double(0)
        case "int":
            switch value {
            case .int(let i): return .int(i)
            case .double(let d) where d.isFinite: return .int(Int(d))
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let s):
                if let i = Int(s.trimmingWhitespace) { return .int(i) }
                if let d = Double(s.trimmingWhitespace), d.isFinite { return .int(Int(d)) }
            default: break
            }
            return arg(0, "default") ?? .int(0)
        case "indent":
            let width = arg(0, "width") ?? .int(4), text = value.text
            let pad: Int = if case .int(let n) = width { max(n, 0) } else { width.text.utf8.count }
            let lines = text.utf8.reduce(1) { $1 == 10 ? $0 + 1 : $0 }
            let (padding, overflow) = pad.multipliedReportingOverflow(by: lines)
            try budget.checkString(bytes: overflow ? .max : text.utf8.count &+ padding, line: line)
            return .string(indent(text, width: width, first: arg(1, "first")?.isTruthy ?? false, blank: arg(2, "blank")?.isTruthy ?? false))
        case "items":
            guard case .object(let o) = value else {
                if !value.isDefined { return .array([]) }
                throw error("items filter needs a dict, not \(value.typeName)")
            }
            return .array(o.map { .array([.string($0.key), $0.value]) })
        case "join":
            var items = try iterable(value, name)
            if let attribute = arg(1, "attribute") { items = items.map { self.attribute(attribute.text, of: $0) } }
            let texts = items.map(\.text), separator = arg(0, "d")?.text ?? ""
            try budget.checkString(bytes: texts.reduce(0) { $0 &+ $1.utf8.count } &+ separator.utf8.count &* texts.count, line: line)
            return .string(texts.joined(separator: separator))
        case "list": return .array(try iterable(value, name))
        case "lower": return .string(try string(value, name).lowercased())
        case "upper": return .string(try string(value, name).uppercased())
        case "title": return .string(try string(value, name).pythonTitled)
        case "map": return .array(try map(try iterable(value, name), args, kwargs))
        case "max", "min":
            var best: JinjaValue?
            for item in try iterable(value, name) {
                guard let current = best else {
                    best = item
                    continue
                }
                if try compare(name == "max" ? ">" : "<", item, current) { best = item }
            }
            return best ?? .undefined
        case "select", "reject", "selectattr", "rejectattr":
            return .array(try select(try iterable(value, name), filter: name, args))
        case "replace":
            guard let old = arg(0, "old")?.text, let new = arg(1, "new")?.text else { throw error("replace needs two arguments") }
            var count = -1
            if case .int(let c)? = arg(2, "count") { count = c }
            let text = try string(value, name)
            // At most one replacement per byte (two ends included when `old` is empty).
            let grows = max(0, new.utf8.count - old.utf8.count)
            try budget.checkString(bytes: text.utf8.count &+ (text.utf8.count &+ 1) &* grows, line: line)
            return .string(text.pythonReplacing(old, with: new, count: count))
        case "reverse":
            if case .string(let s) = value { return .string(String(s.reversed())) }
            return .array(try iterable(value, name).reversed())
        case "round":
            guard let d = value.number else { throw error("round needs a number, not \(value.typeName)") }
            var precision = 0
            if case .int(let p)? = arg(0, "precision") { precision = p }
            let scale = pow(10, Double(precision))
            let method = arg(1, "method")?.text ?? "common"
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrAwayFromZero
            return .double((d * scale).rounded(rule) / scale)
        case "safe": return value
        case "sort": return .array(try sorted(try iterable(value, name), kwargs, args))
        case "string": return .string(value.text)
        case "sum":
            var total = arg(1, "start") ?? .int(0)
            for item in try iterable(value, name) {
                let element = arg(0, "attribute").map { attribute($0.text, of: item) } ?? item
                total = try binaryArithmetic("+", total, element)
            }
            return total
        case "tojson":
            return .string(try JinjaJSON.encode(value, indent: arg(0, "indent"), separators: kwargs["separators"],
                                                 sortKeys: kwargs["sort_keys"]?.isTruthy ?? false,
                                                 ensureASCII: kwargs["ensure_ascii"]?.isTruthy ?? false, namespaces: namespaces))
        case "trim":
            let s = try string(value, name)
            if let chars = arg(0, "chars")?.text { return .string(s.pythonStripped(Set(chars))) }
            return .string(s.trimmingWhitespace)
        case "unique":
            var seen: [JinjaValue] = []
            for item in try iterable(value, name) where !seen.contains(where: { $0.looselyEquals(item) }) { seen.append(item) }
            return .array(seen)
        default:
            throw .unsupported(feature: "filter '\(name)'", line: line)
        }
    }

    private func string(_ value: JinjaValue, _ filter: String) throws(ChatTemplateError) -> String {
        switch value {
        case .string(let s): return s
        case .undefined: return ""
        default: return value.text
        }
    }

    func iterable(_ value: JinjaValue, _ context: String) throws(ChatTemplateError) -> [JinjaValue] {
        guard let items = value.iterationElements else { throw error("\(context): '\(value.typeName)' object is not iterable") }
        return items
    }

    private func binaryArithmetic(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch (l, r) {
        case (.int(let a), .int(let b)): return .int(a &+ b)
        default:
            guard let a = l.number, let b = r.number else { throw error("unsupported operand types for +: '\(l.typeName)' and '\(r.typeName)'") }
            return .double(a + b)
        }
    }

    /// `map(attribute='x')`, `map('filter', args…)`.
    private mutating func map(_ items: [JinjaValue], _ args: [JinjaValue], _ kwargs: [String: JinjaValue]) throws(ChatTemplateError) -> [JinjaValue] {
        if let attribute = kwargs["attribute"] {
            return items.map { item in
                let v = self.attribute(attribute.text, of: item)
                return v.isDefined ? v : kwargs["default"] ?? .undefined
            }
        }
        guard let filter = args.first?.text else { throw error("map needs a filter name or attribute=") }
        guard JinjaFilters.names.contains(filter) else { throw .unsupported(feature: "filter '\(filter)'", line: line) }
        var out: [JinjaValue] = []
        for item in items { out.append(try applyFilter(filter, to: item, Array(args.dropFirst()), [:])) }
        return out
    }

    /// `select(test, args…)`, `reject(…)`, `selectattr(attr, test, args…)`, `rejectattr(…)`.
    private mutating func select(_ items: [JinjaValue], filter: String, _ args: [JinjaValue]) throws(ChatTemplateError) -> [JinjaValue] {
        let byAttribute = filter.hasSuffix("attr")
        let keep = filter.hasPrefix("select")
        var rest = args
        var attributeName: String?
        if byAttribute {
            guard !rest.isEmpty else { throw error("\(filter) needs an attribute name") }
            attributeName = rest.removeFirst().text
        }
        let test = rest.isEmpty ? nil : rest.removeFirst().text
        if let test, !JinjaTests.names.contains(test) { throw .unsupported(feature: "test '\(test)'", line: line) }
        var out: [JinjaValue] = []
        for item in items {
            let subject = attributeName.map { attribute($0, of: item) } ?? item
            let passes = try test.map { t throws(ChatTemplateError) in try applyTest(t, to: subject, rest) } ?? subject.isTruthy
            if passes == keep { out.append(item) }
        }
        return out
    }

    private func sorted(_ items: [JinjaValue], _ kwargs: [String: JinjaValue], _ args: [JinjaValue]) throws(ChatTemplateError) -> [JinjaValue] {
        let reverse = (args.first ?? kwargs["reverse"])?.isTruthy ?? false
        let caseSensitive = (args.count > 1 ? args[1] : kwargs["case_sensitive"])?.isTruthy ?? false
        let attributeName = (args.count > 2 ? args[2] : kwargs["attribute"])?.text
        func key(_ v: JinjaValue) -> JinjaValue {
            let k = attributeName.map { attribute($0, of: v) } ?? v
            if !caseSensitive, case .string(let s) = k { return .string(s.lowercased()) }
            return k
        }
        var failure: ChatTemplateError?
        let result = items.sorted { a, b in
            do throws(ChatTemplateError) { return try compare(reverse ? ">" : "<", key(a), key(b)) } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return result
    }

    private func indent(_ text: String, width: JinjaValue, first: Bool, blank: Bool) -> String {
        let pad: String
        switch width {
        case .int(let n): pad = String(repeating: " ", count: max(n, 0))
        default: pad = width.text
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for i in lines.indices where (i == 0 && first) || (i > 0 && (blank || !lines[i].isEmpty)) {
            lines[i] = pad + lines[i]
        }
        return lines.joined(separator: "\n")
    }
}
