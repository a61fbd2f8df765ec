/// The tests (`value is name(args)`) the interpreter implements.
enum JinjaTests {
    static let names: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge", "gt",
        "greaterthan", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number",
        "odd", "sameas", "sequence", "string", "true", "undefined", "upper", "==", "!=", "<", ">", "<=", ">=",
    ]
}

extension JinjaRenderer {
    func applyTest(_ name: String, to value: JinjaValue, _ args: [JinjaValue]) throws(ChatTemplateError) -> Bool {
        let other = args.first ?? .undefined
        switch name {
        case "boolean": if case .bool = value { return true } else { return false }
        case "callable": if case .callable = value { return true } else { return false }
        case "defined": return value.isDefined
        case "undefined": return !value.isDefined
        case "none": return value == .none
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "string": return value.isString
        case "mapping":
            switch value {
            case .object, .namespace: return true
            default: return false
            }
        case "iterable", "sequence":
            switch value {
            case .array, .object, .string: return true
            default: return false
            }
        case "odd", "even", "divisibleby":
            guard case .int(let i) = value else { throw error("'\(name)' needs an integer, not \(value.typeName)") }
            if name == "odd" { return i % 2 != 0 }
            if name == "even" { return i % 2 == 0 }
            guard case .int(let d) = other, d != 0 else { throw error("divisibleby needs a non-zero integer") }
            return i % d == 0
        case "eq", "equalto", "==", "sameas": return value.looselyEquals(other)
        case "ne", "!=": return !value.looselyEquals(other)
        case "lt", "lessthan", "<": return try compare("<", value, other)
        case "gt", "greaterthan", ">": return try compare(">", value, other)
        case "le", "<=": return try compare("<=", value, other)
        case "ge", ">=": return try compare(">=", value, other)
        case "in": return try contains(other, value)
        case "lower": if case .string(let s) = value { return s == s.lowercased() } else { return false }
        case "upper": if case .string(let s) = value { return s == s.uppercased() } else { return false }
        default: throw .unsupported(feature: "test '\(name)'", line: line)
        }
    }
}
