/// The pushdown automaton's stacks, shared: a node is a grammar position (a terminal or a
/// return point) and the node below it, interned so that equal stacks are one node. A
/// matcher's state is a set of nodes whose positions are terminals; rolling back is putting an
/// earlier set back, since nodes are never changed (XGrammar's persistent stack).
struct StackForest {
    static let bottom: Int32 = -1
    private(set) var positions: [Int32] = []
    private(set) var parents: [Int32] = []
    private var index: [UInt64: Int32] = [:]

    mutating func node(_ position: Int32, parent: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
        if let id = index[key] { return id }
        let id = Int32(positions.count)
        positions.append(position)
        parents.append(parent)
        index[key] = id
        return id
    }

    var count: Int { positions.count }
}

/// The state after some bytes: the stacks whose tops are terminals, and whether the root rule
/// may end here.
struct MatchState: Equatable, Sendable {
    var stacks: [Int32]
    var canEnd: Bool

    var isDead: Bool { stacks.isEmpty && !canEnd }
}

/// Expands stacks until every top is a terminal, and steps stacks over one byte.
struct PushdownStepper {
    let grammar: Grammar
    var forest = StackForest()
    private var seen: [UInt32] = []
    private var stamp: UInt32 = 0
    private var work: [Int32] = []

    init(grammar: Grammar) {
        self.grammar = grammar
    }

    /// The state at the start of the root rule.
    mutating func initialState() -> MatchState {
        var out = MatchState(stacks: [], canEnd: false)
        let starts = grammar.alternatives[Int(grammar.root)].map { forest.node($0, parent: StackForest.bottom) }
        close(starts, into: &out)
        return out
    }

    /// The state after `byte`, dead when no stack takes it.
    mutating func step(_ state: MatchState, _ byte: UInt8) -> MatchState {
        var next: [Int32] = []
        for node in state.stacks {
            let position = forest.positions[Int(node)]
            guard case .bytes(let set) = grammar.elements[Int(position)], set.contains(byte) else { continue }
            next.append(forest.node(position + 1, parent: forest.parents[Int(node)]))
        }
        var out = MatchState(stacks: [], canEnd: false)
        close(next, into: &out)
        return out
    }

    /// Expands `nodes` (rule references push, ends pop) and collects the terminal tops.
    mutating func close(_ nodes: [Int32], into out: inout MatchState) {
        stamp &+= 1
        if stamp == 0 { seen = []; stamp = 1 }
        work.removeAll(keepingCapacity: true)
        work.append(contentsOf: nodes)
        while let node = work.popLast() {
            if seen.count < forest.count { seen.append(contentsOf: repeatElement(0, count: forest.count - seen.count + 64)) }
            guard seen[Int(node)] != stamp else { continue }
            seen[Int(node)] = stamp
            let position = forest.positions[Int(node)], parent = forest.parents[Int(node)]
            switch grammar.elements[Int(position)] {
            case .bytes:
                out.stacks.append(node)
            case .rule(let rule):
                // A reference in tail position returns straight to the caller's caller, so
                // right-recursive repetitions do not grow the stack.
                let resume: Int32
                if case .end = grammar.elements[Int(position) + 1] { resume = parent } else { resume = forest.node(position + 1, parent: parent) }
                for start in grammar.alternatives[Int(rule)] { work.append(forest.node(start, parent: resume)) }
            case .end:
                if parent == StackForest.bottom { out.canEnd = true } else { work.append(parent) }
            }
        }
        out.stacks.sort()
    }
}
