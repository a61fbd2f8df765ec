/// GGUF metadata: ordered key/value pairs with typed accessors that throw clear errors.
public struct GGUFMetadata: Sendable {
    /// The pairs in file order.
    public let entries: [(key: String, value: GGUFValue)]
    private let index: [String: Int]

    public init(_ entries: [(String, GGUFValue)]) {
        self.entries = entries.map { (key: $0.0, value: $0.1) }
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.0] = i }
        self.index = index
    }

    public subscript(key: String) -> GGUFValue? {
        index[key].map { entries[$0].value }
    }

    public func string(_ key: String) throws(GGUFError) -> String {
        guard let v = self[key] else { throw .missingKey(key) }
        guard let s = v.stringValue else { throw .wrongValueType(key: key, expected: "a string") }
        return s
    }

    public func int(_ key: String) throws(GGUFError) -> Int {
        guard let v = self[key] else { throw .missingKey(key) }
        guard let i = v.intValue else { throw .wrongValueType(key: key, expected: "an integer") }
        return i
    }

    public func double(_ key: String) throws(GGUFError) -> Double {
        guard let v = self[key] else { throw .missingKey(key) }
        guard let d = v.doubleValue else { throw .wrongValueType(key: key, expected: "a number") }
        return d
    }

    public func array(_ key: String) throws(GGUFError) -> [GGUFValue] {
        guard let v = self[key] else { throw .missingKey(key) }
        guard let a = v.arrayValue else { throw .wrongValueType(key: key, expected: "an array") }
        return a
    }

    public func strings(_ key: String) throws(GGUFError) -> [String] {
        var out: [String] = []
        for v in try array(key) {
            guard let s = v.stringValue else { throw .wrongValueType(key: key, expected: "an array of strings") }
            out.append(s)
        }
        return out
    }

    public func optionalInt(_ key: String) throws(GGUFError) -> Int? {
        self[key] == nil ? nil : try int(key)
    }

    public func optionalDouble(_ key: String) throws(GGUFError) -> Double? {
        self[key] == nil ? nil : try double(key)
    }

    public func optionalBool(_ key: String) -> Bool? {
        self[key]?.boolValue
    }
}
