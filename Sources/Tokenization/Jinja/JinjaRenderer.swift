#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a parsed template over a context and collects the text it outputs.
///
/// Scoping follows Jinja2: `{% set %}` inside a loop body stays in that iteration (templates use
/// `namespace()` to carry values out), macros see the template's top-level variables.
struct JinjaRenderer {
    private var scopes: [[String: JinjaValue]]
    var namespaces: [JinjaObject] = []
    private var macros: [JinjaMacro] = []
    private var output = ""
    /// Line of the statement being run, for errors.
    var line = 0
    var budget: JinjaBudget

    private enum Flow { case normal, breakLoop, continueLoop }

    init(context: [String: JinjaValue], limits: JinjaLimits) {
        scopes = [context]
        budget = JinjaBudget(limits)
    }

    static func render(_ nodes: [JinjaNode], context: [String: JinjaValue], limits: JinjaLimits) throws(ChatTemplateError) -> String {
        var renderer = JinjaRenderer(context: context, limits: limits)
        _ = try renderer.execute(nodes)
        return renderer.output
    }

    func error(_ message: String) -> ChatTemplateError { .runtime(message: message, line: line) }

    // MARK: - Statements

    private mutating func execute(_ nodes: [JinjaNode]) throws(ChatTemplateError) -> Flow {
        for node in nodes {
            let flow = try execute(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private mutating func execute(_ node: JinjaNode) throws(ChatTemplateError) -> Flow {
        try budget.step(line: line)
        switch node {
        case .text(let s):
            try budget.checkString(bytes: output.utf8.count + s.utf8.count, line: line)
            output += s
        case .output(let expression, let line):
            self.line = line
            let text = try evaluate(expression).text
            try budget.checkString(bytes: output.utf8.count + text.utf8.count, line: line)
            output += text
        case .ifBlock(let branches, let otherwise, let line):
            for branch in branches {
                self.line = line
                if try evaluate(branch.condition).isTruthy { return try execute(branch.body) }
            }
            return try execute(otherwise)
        case .forLoop(let loop):
            try run(loop)
        case .set(let target, let value, let line):
            self.line = line
            try assign(try evaluate(value), to: target)
        case .setBlock(let name, let body, let line):
            self.line = line
            let saved = output
            output = ""
            _ = try execute(body)
            scopes[scopes.count - 1][name] = .string(output)
            output = saved
        case .macro(let macro):
            macros.append(macro)
            scopes[scopes.count - 1][macro.name] = .callable(.macro(macros.count - 1))
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        }
        return .normal
    }

    private mutating func run(_ loop: JinjaForLoop) throws(ChatTemplateError) {
        line = loop.line
        let iterable = try evaluate(loop.iterable)
        guard var items = iterable.iterationElements else { throw error("'\(iterable.typeName)' object is not iterable") }
        if let condition = loop.condition {
            var kept: [JinjaValue] = []
            for item in items {
                try budget.step(line: loop.line)
                scopes.append([:])
                try bind(item, to: loop.targets)
                let keep = try evaluate(condition).isTruthy
                scopes.removeLast()
                if keep { kept.append(item) }
            }
            items = kept
        }
        guard !items.isEmpty else {
            _ = try execute(loop.otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            try budget.step(line: loop.line)
            scopes.append(["loop": loopObject(index: i, items: items)])
            try bind(item, to: loop.targets)
            let flow = try execute(loop.body)
            scopes.removeLast()
            if flow == .breakLoop { break }
        }
    }

    private func loopObject(index i: Int, items: [JinjaValue]) -> JinjaValue {
        let n = items.count
        return .object(JinjaObject([
            ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
            ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)),
            ("previtem", i > 0 ? items[i - 1] : .undefined), ("nextitem", i + 1 < n ? items[i + 1] : .undefined),
            ("depth", 1), ("depth0", 0),
        ]))
    }

    private mutating func bind(_ item: JinjaValue, to targets: [String]) throws(ChatTemplateError) {
        guard targets.count > 1 else {
            scopes[scopes.count - 1][targets[0]] = item
            return
        }
        guard let parts = item.iterationElements, parts.count == targets.count else {
            throw error("cannot unpack \(item.typeName) into \(targets.count) names")
        }
        for (name, value) in zip(targets, parts) { scopes[scopes.count - 1][name] = value }
    }

    private mutating func assign(_ value: JinjaValue, to target: JinjaAssignmentTarget) throws(ChatTemplateError) {
        switch target {
        case .name(let name):
            scopes[scopes.count - 1][name] = value
        case .names(let names):
            try bind(value, to: names)
        case .attribute(let name, let attribute):
            guard case .namespace(let id) = lookup(name) else {
                throw error("cannot set attribute '\(attribute)' of '\(name)', which is not a namespace")
            }
            namespaces[id][attribute] = value
        }
    }

    // MARK: - Expressions

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return JinjaGlobals.names.contains(name) ? .callable(.builtin(name)) : .undefined
    }

    /// The value of `expression`, checked against the budget's size limits.
    mutating func evaluate(_ expression: JinjaExpression) throws(ChatTemplateError) -> JinjaValue {
        let value = try evaluateUnchecked(expression)
        try budget.check(value, line: line)
        return value
    }

    private mutating func evaluateUnchecked(_ expression: JinjaExpression) throws(ChatTemplateError) -> JinjaValue {
        switch expression {
        case .literal(let value):
            return value
        case .name(let name):
            return lookup(name)
        case .list(let items):
            var values: [JinjaValue] = []
            for item in items { values.append(try evaluate(item)) }
            return .array(values)
        case .dict(let pairs):
            var object = JinjaObject()
            for pair in pairs {
                let key = try evaluate(pair.key)
                guard case .string(let k) = key else { throw error("dict keys must be strings, not \(key.typeName)") }
                object[k] = try evaluate(pair.value)
            }
            return .object(object)
        case .attribute(let base, let name):
            return attribute(name, of: try evaluate(base))
        case .item(let base, let key):
            return try item(try evaluate(key), of: try evaluate(base))
        case .slice(let base, let start, let stop, let step):
            return try slice(try evaluate(base), start: try evaluate(optional: start), stop: try evaluate(optional: stop),
                             step: try evaluate(optional: step))
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            if !function.isDefined {
                switch callee {
                case .name(let name): throw .unsupported(feature: "function '\(name)'", line: line)
                case .attribute(let base, let name):
                    throw .unsupported(feature: "method '\(name)' of \(try evaluate(base).typeName)", line: line)
                default: break
                }
            }
            let (positional, keyword) = try evaluate(arguments)
            return try call(function, positional, keyword)
        case .filter(let base, let name, let arguments):
            let value = try evaluate(base)
            let (positional, keyword) = try evaluate(arguments)
            return try applyFilter(name, to: value, positional, keyword)
        case .test(let base, let name, let arguments, let negated):
            let value = try evaluate(base)
            let (positional, _) = try evaluate(arguments)
            return .bool(try applyTest(name, to: value, positional) != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand):
            switch try evaluate(operand) {
            case .int(let i): return .int(0 &- i)
            case .double(let d): return .double(-d)
            case let other: throw error("bad operand type for unary -: '\(other.typeName)'")
            }
        case .and(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? try evaluate(right) : l
        case .or(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? l : try evaluate(right)
        case .binary(let op, let left, let right):
            return try binary(op, try evaluate(left), try evaluate(right))
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try evaluate(optional: otherwise) ?? .undefined
        }
    }

    private mutating func evaluate(optional expression: JinjaExpression?) throws(ChatTemplateError) -> JinjaValue? {
        guard let expression else { return nil }
        return try evaluate(expression)
    }

    private mutating func evaluate(_ arguments: JinjaArguments) throws(ChatTemplateError) -> ([JinjaValue], [String: JinjaValue]) {
        var positional: [JinjaValue] = []
        for a in arguments.positional { positional.append(try evaluate(a)) }
        var keyword: [String: JinjaValue] = [:]
        for a in arguments.keyword { keyword[a.name] = try evaluate(a.value) }
        return (positional, keyword)
    }

    /// `value.name`: a dict key, a namespace attribute, or a method.
    func attribute(_ name: String, of value: JinjaValue) -> JinjaValue {
        switch value {
        case .object(let object):
            if let v = object[name] { return v }
        case .namespace(let id):
            return namespaces[id][name] ?? .undefined
        default:
            break
        }
        return JinjaMethods.has(name, on: value) ? .callable(.method(receiver: value, name: name)) : .undefined
    }

    /// `value[key]`; missing keys and indexes out of range give undefined, as in Jinja2.
    func item(_ key: JinjaValue, of value: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch (value, key) {
        case (.object(let object), .string(let k)):
            return object[k] ?? .undefined
        case (.namespace, .string(let k)):
            return attribute(k, of: value)
        case (.array(let a), .int(let i)):
            let j = i < 0 ? a.count + i : i
            return a.indices.contains(j) ? a[j] : .undefined
        case (.string(let s), .int(let i)):
            let scalars = Array(s.unicodeScalars)
            let j = i < 0 ? scalars.count + i : i
            return scalars.indices.contains(j) ? .string(String(scalars[j])) : .undefined
        case (.undefined, _):
            return .undefined
        default:
            if case .string(let k) = key { return attribute(k, of: value) }
            return .undefined
        }
    }

    /// Python slicing of lists and strings.
    private func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws(ChatTemplateError) -> JinjaValue {
        func int(_ v: JinjaValue?) throws(ChatTemplateError) -> Int? {
            switch v {
            case nil, .none?, .undefined?: return nil
            case .int(let i)?: return i
            case let other?: throw error("slice indices must be integers, not \(other.typeName)")
            }
        }
        let step = try int(step) ?? 1
        guard step != 0 else { throw error("slice step cannot be zero") }
        func indices(count n: Int) throws(ChatTemplateError) -> [Int] {
            func clamp(_ i: Int?, _ defaultValue: Int) -> Int {
                guard var i else { return defaultValue }
                if i < 0 { i += n }
                return step > 0 ? min(max(i, 0), n) : min(max(i, -1), n - 1)
            }
            let lo = clamp(try int(start), step > 0 ? 0 : n - 1)
            let hi = clamp(try int(stop), step > 0 ? n : -1)
            return Array(stride(from: lo, to: hi, by: step))
        }
        switch value {
        case .array(let a): return .array(try indices(count: a.count).map { a[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(count: scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .undefined: return .undefined
        default: throw error("'\(value.typeName)' object is not subscriptable")
        }
    }

    private mutating func call(_ function: JinjaValue, _ positional: [JinjaValue], _ keyword: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        guard case .callable(let callable) = function else {
            throw error(function.isDefined ? "'\(function.typeName)' object is not callable" : "call of an undefined function")
        }
        switch callable {
        case .builtin(let name): return try callGlobal(name, positional, keyword)
        case .macro(let id): return try callMacro(macros[id], positional, keyword)
        case .method(let receiver, let name): return try callMethod(name, on: receiver, positional, keyword)
        }
    }

    private mutating func callMacro(_ macro: JinjaMacro, _ positional: [JinjaValue], _ keyword: [String: JinjaValue]) throws(ChatTemplateError) -> JinjaValue {
        try budget.step(line: line)
        guard budget.callDepth < budget.limits.maxCallDepth else {
            throw .limitExceeded("macro calls nested deeper than \(budget.limits.maxCallDepth)", line: line)
        }
        budget.callDepth += 1
        defer { budget.callDepth -= 1 }
        var scope: [String: JinjaValue] = [:]
        for (i, parameter) in macro.parameters.enumerated() {
            if i < positional.count {
                scope[parameter.name] = positional[i]
            } else if let value = keyword[parameter.name] {
                scope[parameter.name] = value
            } else {
                scope[parameter.name] = try evaluate(optional: parameter.defaultValue) ?? .undefined
            }
        }
        let savedScopes = scopes
        let savedOutput = output
        let savedLine = line
        scopes = [scopes[0], scope]
        output = ""
        defer {
            scopes = savedScopes
            output = savedOutput
            line = savedLine
        }
        _ = try execute(macro.body)
        return .string(output)
    }

    private func binary(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch op {
        case "==": return .bool(l.looselyEquals(r))
        case "!=": return .bool(!l.looselyEquals(r))
        case "<", ">", "<=", ">=": return .bool(try compare(op, l, r))
        case "in": return .bool(try contains(r, l))
        case "not in": return .bool(!(try contains(r, l)))
        case "~": return .string(l.text + r.text)
        default: return try arithmetic(op, l, r)
        }
    }

    func compare(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws(ChatTemplateError) -> Bool {
        let order: Int
        if case .string(let a) = l, case .string(let b) = r {
            order = a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) ? -1 : (a == b ? 0 : 1)
        } else if let a = l.number, let b = r.number, !l.isString, !r.isString {
            order = a < b ? -1 : (a == b ? 0 : 1)
        } else {
            throw error("'\(op)' not supported between '\(l.typeName)' and '\(r.typeName)'")
        }
        switch op {
        case "<": return order < 0
        case ">": return order > 0
        case "<=": return order <= 0
        default: return order >= 0
        }
    }

    func contains(_ container: JinjaValue, _ element: JinjaValue) throws(ChatTemplateError) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = element else { throw error("'in <string>' requires a string on the left") }
            return needle.isEmpty || s.contains(needle)
        case .array(let a): return a.contains { $0.looselyEquals(element) }
        case .object(let o):
            guard case .string(let key) = element else { return false }
            return o[key] != nil
        case .namespace(let id):
            guard case .string(let key) = element else { return false }
            return namespaces[id][key] != nil
        case .undefined: return false
        default: throw error("argument of type '\(container.typeName)' is not iterable")
        }
    }

    private func arithmetic(_ op: String, _ l: JinjaValue, _ r: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch (op, l, r) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .array(let a), .array(let b)): return .array(a + b)
        case ("*", .string(let s), .int(let n)), ("*", .int(let n), .string(let s)):
            let (bytes, overflow) = s.utf8.count.multipliedReportingOverflow(by: max(n, 0))
            try budget.checkString(bytes: overflow ? .max : bytes, line: line)
            return .string(String(repeating: s, count: max(n, 0)))
        case ("*", .array(let a), .int(let n)), ("*", .int(let n), .array(let a)):
            let (count, overflow) = a.count.multipliedReportingOverflow(by: max(n, 0))
            try budget.checkList(count: overflow ? .max : count, line: line)
            return .array(Array(repeatElement(a, count: max(n, 0)).joined()))
        case (_, .int(let a), .int(let b)):
            return try integerArithmetic(op, a, b)
        default:
            guard let a = l.number, let b = r.number, !l.isString, !r.isString, l.isDefined, r.isDefined else {
                throw error("unsupported operand types for \(op): '\(l.typeName)' and '\(r.typeName)'")
            }
            return try floatArithmetic(op, a, b)
        }
    }

    private func integerArithmetic(_ op: String, _ a: Int, _ b: Int) throws(ChatTemplateError) -> JinjaValue {
        switch op {
        case "+": return .int(a &+ b)
        case "-": return .int(a &- b)
        case "*": return .int(a &* b)
        case "/":
            guard b != 0 else { throw error("division by zero") }
            return .double(Double(a) / Double(b))
        case "//", "%":
            guard b != 0 else { throw error("integer division or modulo by zero") }
            guard !(a == .min && b == -1) else { throw error("integer overflow in \(a) \(op) \(b)") }
            var q = a / b
            if (a % b != 0) && ((a < 0) != (b < 0)) { q -= 1 }
            return .int(op == "//" ? q : a &- q &* b)
        default:
            guard b >= 0 else { return .double(pow(Double(a), Double(b))) }
            // By squaring (wrapping as the other operators do): a huge exponent costs 64 steps.
            var result = 1, base = a, e = b
            while e > 0 {
                if e & 1 == 1 { result = result &* base }
                base = base &* base
                e >>= 1
            }
            return .int(result)
        }
    }

    private func floatArithmetic(_ op: String, _ a: Double, _ b: Double) throws(ChatTemplateError) -> JinjaValue {
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/", "//", "%":
            guard b != 0 else { throw error("float division by zero") }
            if op == "/" { return .double(a / b) }
            let q = (a / b).rounded(.down)
            return .double(op == "//" ? q : a - q * b)
        default: return .double(pow(a, b))
        }
    }
}
