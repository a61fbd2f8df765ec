/// Lowers a ``GrammarDefinition`` into a ``Grammar``: choices nested in sequences and
/// repetitions become anonymous rules (shared when equal), characters become their UTF-8 byte
/// patterns.
struct GrammarCompiler {
    typealias Element = Grammar.Element
    private let definition: GrammarDefinition
    private var ids: [String: Int32] = [:]
    private var bodies: [[[Element]]] = []
    private var names: [String] = []
    private var anonymous: [[[Element]]: Int32] = [:]
    private var elementCount = 0

    init(_ definition: GrammarDefinition) {
        self.definition = definition
    }

    mutating func compile() throws(GrammarError) -> Grammar {
        for (name, _) in definition.rules {
            guard ids[name] == nil else { throw .duplicateRule(name) }
            ids[name] = Int32(names.count)
            names.append(name)
            bodies.append([])
        }
        guard let root = ids[definition.root] else { throw .undefinedRule(definition.root) }
        for (index, rule) in definition.rules.enumerated() {
            bodies[index] = try alternatives(of: rule.expr, in: rule.name)
        }
        var grammar = Grammar()
        grammar.root = root
        grammar.ruleNames = names
        for (id, body) in bodies.enumerated() {
            var starts: [Int32] = []
            for alt in body {
                starts.append(Int32(grammar.elements.count))
                grammar.elements.append(contentsOf: alt)
                grammar.elements.append(.end(Int32(id)))
            }
            grammar.alternatives.append(starts)
        }
        try GrammarAnalysis(grammar).check()
        return grammar
    }

    private mutating func alternatives(of expr: GrammarExpr, in rule: String) throws(GrammarError) -> [[Element]] {
        if case .choice(let options) = expr {
            var out: [[Element]] = []
            for option in options {
                let seq = try sequence(option, in: rule)
                if !out.contains(seq) { out.append(seq) }
            }
            return out
        }
        return [try sequence(expr, in: rule)]
    }

    private mutating func sequence(_ expr: GrammarExpr, in rule: String) throws(GrammarError) -> [Element] {
        var out: [Element] = []
        try append(expr, to: &out, in: rule)
        return out
    }

    private mutating func append(_ expr: GrammarExpr, to out: inout [Element], in rule: String) throws(GrammarError) {
        switch expr {
        case .literal(let bytes):
            out.append(contentsOf: bytes.map { .bytes(ByteSet($0...$0)) })
        case .bytes(let set):
            out.append(.bytes(set))
        case .characters(let ranges, let negated):
            let patterns = UTF8Ranges.patterns(UTF8Ranges.normalize(ranges, negated: negated))
            guard !patterns.isEmpty else { throw .empty("a character class in rule '\(rule)' matches no character") }
            let seqs = Self.merge(patterns).map { $0.map { Element.bytes($0) } }
            if seqs.count == 1 { out.append(contentsOf: seqs[0]) } else { out.append(.rule(anonymousRule(seqs, in: rule))) }
        case .sequence(let parts):
            for part in parts { try append(part, to: &out, in: rule) }
        case .choice(let options):
            if options.count == 1 { return try append(options[0], to: &out, in: rule) }
            guard !options.isEmpty else { throw .empty("an empty choice in rule '\(rule)'") }
            out.append(.rule(anonymousRule(try alternatives(of: expr, in: rule), in: rule)))
        case .repeat(let body, let min, let max):
            try appendRepeat(body, min: min, max: max, to: &out, in: rule)
        case .reference(let name):
            guard let id = ids[name] else { throw .undefinedRule(name) }
            out.append(.rule(id))
        }
        elementCount += 1
        guard elementCount < Grammar.maxElements else { throw .tooLarge("more than \(Grammar.maxElements) elements") }
    }

    private mutating func appendRepeat(_ body: GrammarExpr, min: Int, max: Int?, to out: inout [Element],
                                       in rule: String) throws(GrammarError) {
        guard min >= 0, max.map({ $0 >= min }) ?? true else {
            throw .syntax("repetition {\(min),\(max.map(String.init) ?? "")} in rule '\(rule)' is empty", offset: 0)
        }
        guard (max ?? min) <= 20_000 else { throw .tooLarge("a repetition of \(max ?? min) in rule '\(rule)'") }
        let unit = try sequence(body, in: rule)
        let item: [Element] = unit.count <= 1 ? unit : [.rule(anonymousRule([unit], in: rule))]
        for _ in 0..<min { out.append(contentsOf: item) }
        if let max {
            guard max > min else { return }
            // opt(k) ::= item opt(k-1) | ε, nested so that at most max - min more follow.
            var tail = anonymousRule([item, []], in: rule)
            for _ in 1..<(max - min) { tail = anonymousRule([item + [.rule(tail)], []], in: rule) }
            out.append(.rule(tail))
        } else {
            // star ::= item star | ε
            let id = Int32(names.count)
            names.append("\(rule)#\(id)")
            bodies.append([item + [.rule(id)], []])
            out.append(.rule(id))
        }
    }

    private mutating func anonymousRule(_ body: [[Element]], in rule: String) -> Int32 {
        if let id = anonymous[body] { return id }
        let id = Int32(names.count)
        names.append("\(rule)#\(id)")
        bodies.append(body)
        anonymous[body] = id
        return id
    }

    /// Joins patterns that differ only in their last byte range when those ranges touch,
    /// so a class like [a-z0-9] stays two patterns, not thirty-six.
    private static func merge(_ patterns: [[ClosedRange<UInt8>]]) -> [[ByteSet]] {
        var out: [[ByteSet]] = []
        var prefixes: [[ClosedRange<UInt8>]] = []
        for p in patterns {
            let prefix = Array(p.dropLast())
            if let i = prefixes.firstIndex(of: prefix), out[i].count == p.count {
                out[i][p.count - 1].formUnion(ByteSet(p[p.count - 1]))
            } else {
                prefixes.append(prefix)
                out.append(p.map { ByteSet($0) })
            }
        }
        return out
    }
}

/// Checks a compiled grammar: every rule can produce some string, and no rule can reach itself
/// without consuming a byte (left recursion would make the automaton's closure infinite).
struct GrammarAnalysis {
    let grammar: Grammar

    init(_ grammar: Grammar) { self.grammar = grammar }

    func check() throws(GrammarError) {
        let nullable = fixpoint { known, alt in
            alt.allSatisfy { if case .rule(let r) = $0 { known[Int(r)] } else { false } }
        }
        let productive = fixpoint { known, alt in
            alt.allSatisfy { if case .rule(let r) = $0 { known[Int(r)] } else { true } }
        }
        guard productive[Int(grammar.root)] else {
            throw .empty("rule '\(grammar.ruleNames[Int(grammar.root)])' never ends")
        }
        // Edges A -> B where B can be the first thing A matches. A cycle of them is left
        // recursion; the stepper survives it only when every reference on the cycle is in tail
        // position (it returns straight to the caller's caller, so no frame accumulates: this is
        // what `(x?)*` lowers to).
        var edges = [[Int32]](repeating: [], count: grammar.numRules)
        var growing: [(from: Int32, to: Int32)] = []
        for rule in 0..<grammar.numRules {
            for alt in body(rule) {
                for (i, element) in zip(alt.indices, alt) {
                    guard case .rule(let r) = element else { break }
                    edges[rule].append(r)
                    if i + 1 < alt.endIndex { growing.append((Int32(rule), r)) }
                    if !nullable[Int(r)] { break }
                }
            }
        }
        for edge in growing {
            if let path = path(from: edge.to, to: edge.from, edges) {
                throw .leftRecursion(([edge.from] + path).map { grammar.ruleNames[Int($0)] })
            }
        }
    }

    /// A shortest chain of edges from `start` to `goal` (both included), if there is one.
    private func path(from start: Int32, to goal: Int32, _ edges: [[Int32]]) -> [Int32]? {
        var previous = [Int32](repeating: -1, count: edges.count)
        var queue = [start]
        previous[Int(start)] = start
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            if v == goal {
                var chain = [v]
                while chain.last! != start { chain.append(previous[Int(chain.last!)]) }
                return chain.reversed()
            }
            for w in edges[Int(v)] where previous[Int(w)] == -1 {
                previous[Int(w)] = v
                queue.append(w)
            }
        }
        return nil
    }

    private func body(_ rule: Int) -> [ArraySlice<Grammar.Element>] {
        grammar.alternatives[rule].map { start in
            var end = Int(start)
            while true {
                if case .end = grammar.elements[end] { break }
                end += 1
            }
            return grammar.elements[Int(start)..<end]
        }
    }

    private func fixpoint(_ holds: (inout [Bool], ArraySlice<Grammar.Element>) -> Bool) -> [Bool] {
        var known = [Bool](repeating: false, count: grammar.numRules)
        let bodies = (0..<grammar.numRules).map(body)
        var changed = true
        while changed {
            changed = false
            for rule in 0..<grammar.numRules where !known[rule] {
                if bodies[rule].contains(where: { holds(&known, $0) }) {
                    known[rule] = true
                    changed = true
                }
            }
        }
        return known
    }
}
