/// The fewest bytes that complete a match from a stack, for walks that must end (the grammar
/// sampler, property tests): each position's shortest way to the end of its alternative (from
/// a fixpoint over the rules' shortest matches), summed down a stack's frames and memoized per
/// stack node.
struct CompletionDistance {
    static let unreachable = Int.max / 4
    /// Shortest number of bytes from each position to the end of its alternative.
    let suffix: [Int]
    private var memo: [Int32: Int] = [:]

    init(grammar: Grammar) {
        let shortest = Self.shortestRuleLengths(grammar)
        var out = [Int](repeating: 0, count: grammar.elements.count)
        for p in stride(from: grammar.elements.count - 1, through: 0, by: -1) {
            switch grammar.elements[p] {
            case .end: out[p] = 0
            case .bytes: out[p] = min(Self.unreachable, 1 + out[p + 1])
            case .rule(let r): out[p] = min(Self.unreachable, shortest[Int(r)] + out[p + 1])
            }
        }
        suffix = out
    }

    /// The fewest bytes from the stack at `node` to the end of the root rule.
    mutating func length(of node: Int32, in forest: StackForest) -> Int {
        if node == StackForest.bottom { return 0 }
        if let known = memo[node] { return known }
        // Iterative over the parent chain, which can be deep for recursive grammars.
        var chain: [Int32] = []
        var n = node
        while n != StackForest.bottom, memo[n] == nil {
            chain.append(n)
            n = forest.parents[Int(n)]
        }
        var total = n == StackForest.bottom ? 0 : memo[n]!
        for m in chain.reversed() {
            total = min(Self.unreachable, total + suffix[Int(forest.positions[Int(m)])])
            memo[m] = total
        }
        return total
    }

    /// The length of each rule's shortest match (a fixpoint, since rules refer to each other).
    static func shortestRuleLengths(_ grammar: Grammar) -> [Int] {
        var shortest = [Int](repeating: unreachable, count: grammar.numRules)
        var changed = true
        while changed {
            changed = false
            for rule in 0..<grammar.numRules {
                for start in grammar.alternatives[rule] {
                    var length = 0, p = Int(start)
                    loop: while true {
                        switch grammar.elements[p] {
                        case .end: break loop
                        case .bytes: length += 1
                        case .rule(let r): length = min(unreachable, length + shortest[Int(r)])
                        }
                        p += 1
                    }
                    if length < shortest[rule] {
                        shortest[rule] = length
                        changed = true
                    }
                }
            }
        }
        return shortest
    }
}
