/// A value in a Jinja template: what variables hold and expressions produce.
///
/// Follows Python's semantics where chat templates rely on them: truthiness, `==` between ints
/// and floats, `str()` of lists and dicts, dict insertion order.
public enum JinjaValue: Sendable, Equatable {
    /// A name that is not set; prints as nothing, is false, iterates as empty.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)
    /// A `namespace()` object, by its slot in the renderer (namespaces are mutable and shared).
    case namespace(Int)
    /// A global function, macro or bound method.
    indirect case callable(JinjaCallable)

    /// A dictionary of string keys to values.
    public static func dictionary(_ pairs: KeyValuePairs<String, JinjaValue>) -> JinjaValue {
        var object = JinjaObject()
        for (key, value) in pairs { object[key] = value }
        return .object(object)
    }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): !o.isEmpty
        case .namespace, .callable: true
        }
    }

    public var isDefined: Bool {
        if case .undefined = self { return false }
        return true
    }

    /// The number as a Double, for ints, floats and booleans.
    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// The name of this value's type, for error messages.
    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "none"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "string"
        case .array: "list"
        case .object: "dict"
        case .namespace: "namespace"
        case .callable: "function"
        }
    }

    /// Python's `str()`.
    public var text: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: repr
        }
    }

    /// Python's `repr()`: strings quoted, `None`, `True`, lists and dicts in Python syntax.
    var repr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Self.pythonFloat(d)
        case .string(let s): Self.pythonQuoted(s)
        case .array(let a): "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.map { Self.pythonQuoted($0.key) + ": " + $0.value.repr }.joined(separator: ", ") + "}"
        case .namespace: "<Namespace>"
        case .callable: "<function>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded(), abs(d) < 1e16 { return "\(Int(d)).0" }
        return "\(d)"
    }

    private static func pythonQuoted(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case quote: out += "\\" + String(quote)
            default: out.append(c)
            }
        }
        out.append(quote)
        return out
    }

    /// Python's `==`: ints equal floats of the same value; containers compare element-wise.
    func looselyEquals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.looselyEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { b[$0.key]?.looselyEquals($0.value) ?? false }
        case (.none, .none), (.undefined, .undefined): return true
        default:
            if let x = number, let y = other.number, !isString, !other.isString { return x == y }
            return self == other
        }
    }

    var isString: Bool {
        if case .string = self { return true }
        return false
    }

    /// The elements of a list, the keys of a dict, the characters of a string.
    var iterationElements: [JinjaValue]? {
        switch self {
        case .undefined: []
        case .array(let a): a
        case .object(let o): o.keys.map { .string($0) }
        case .string(let s): s.map { .string(String($0)) }
        default: nil
        }
    }
}

/// A dictionary that keeps its keys in insertion order (as Python's `dict` does).
public struct JinjaObject: Sendable, Equatable, Sequence {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: JinjaValue)> {
        var index = 0
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            return (keys[index], storage[keys[index]]!)
        }
    }

    public static func == (a: JinjaObject, b: JinjaObject) -> Bool {
        a.keys == b.keys && a.storage == b.storage
    }
}

/// Something a template can call.
public enum JinjaCallable: Sendable, Equatable {
    /// A global function (`range`, `namespace`, `raise_exception`, `strftime_now`, …).
    case builtin(String)
    /// A `{% macro %}`, by its slot in the renderer.
    case macro(Int)
    /// A method of a value (`'a b'.split`, `message.get`, `loop.cycle`).
    case method(receiver: JinjaValue, name: String)
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .none }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
}
