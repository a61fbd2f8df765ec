/// A trie of every suffix of its sequences, each cut to `maxDepth` tokens, in which each node
/// counts the suffix occurrences that pass through it: a node at depth k with count c means its
/// k-token string occurs c times (in windows of at most `maxDepth` tokens).
///
/// Nodes live in one array and refer to each other by index; children form a sibling list, and a
/// node with many children also gets a token → child table. Removed nodes are reused.
struct SuffixTree {
    struct Node {
        var token: Int32
        /// Suffix occurrences passing through (or ending at) this node.
        var count: Int32 = 0
        /// Sum of the children's counts: the occurrences that continue past this node.
        var childTotal: Int32 = 0
        var firstChild: Int32 = SuffixTree.none
        var nextSibling: Int32 = SuffixTree.none
        /// The child with the highest count, ties to the smaller token; `stale` after a removal.
        var bestChild: Int32 = SuffixTree.none
        /// Index into `tables`, or `none` while the sibling list is short.
        var table: Int32 = SuffixTree.none
    }

    /// A greedy path below a matched context, with the running-product probabilities summed.
    struct Draft {
        var tokens: [Int] = []
        var score: Float = 0
    }

    static let none: Int32 = -1
    static let stale: Int32 = -2
    static let root: Int32 = 0
    /// A node gets a child table once its sibling list would grow past this.
    static let tableThreshold = 8

    let maxDepth: Int
    private(set) var nodes: [Node] = [Node(token: 0)]
    private var freeNodes: [Int32] = []
    private var tables: [[Int32: Int32]] = []
    private var freeTables: [Int32] = []
    /// Ends of the open suffix paths of the sequence being appended, by depth (1, 2, …).
    private var active: [Int32] = []

    init(maxDepth: Int) {
        precondition(maxDepth >= 1, "a suffix tree needs maxDepth >= 1")
        self.maxDepth = maxDepth
        active.reserveCapacity(maxDepth)
    }

    /// Nodes in use, the root included.
    var liveNodeCount: Int { nodes.count - freeNodes.count }

    // MARK: Adding and removing

    /// Appends `token` to the current sequence: extends every open suffix path and starts a new
    /// one, O(maxDepth).
    mutating func append(_ token: Int32) {
        nodes[Int(Self.root)].count += 1
        if active.count < maxDepth { active.append(Self.none) }
        // Deepest first, so each path moves one slot down; a path already at maxDepth falls off.
        var depth = active.count - 1
        while depth > 0 {
            active[depth] = descend(from: active[depth - 1], token: token)
            depth -= 1
        }
        active[0] = descend(from: Self.root, token: token)
    }

    /// Closes the current sequence: the next `append` starts an unrelated one.
    mutating func endSequence() {
        active.removeAll(keepingCapacity: true)
    }

    /// Adds all suffixes of `sequence` as a sequence of its own.
    mutating func insert(_ sequence: [Int32]) {
        endSequence()
        for token in sequence { append(token) }
        endSequence()
    }

    /// Takes back an `insert(sequence)`: decrements the counts along its suffix paths and frees
    /// the nodes no other occurrence passes through.
    mutating func remove(_ sequence: [Int32]) {
        for start in sequence.indices {
            nodes[Int(Self.root)].count -= 1
            var parent = Self.root
            for token in sequence[start..<min(sequence.count, start + maxDepth)] {
                guard let child = child(of: parent, token: token) else {
                    preconditionFailure("removing a sequence that was never inserted")
                }
                nodes[Int(parent)].childTotal -= 1
                nodes[Int(child)].count -= 1
                if nodes[Int(parent)].bestChild == child { nodes[Int(parent)].bestChild = Self.stale }
                if nodes[Int(child)].count == 0 {
                    // Only this suffix passed through: what hangs below is its own chain.
                    unlink(child, from: parent)
                    freeChain(child)
                    break
                }
                parent = child
            }
        }
    }

    // MARK: Speculating

    /// The best greedy draft below any tail of `context` that is a path here, as Arctic
    /// Inference scores it: for each match length m (1 up to `maxDepth`), walk to the child with
    /// the highest count while the running product of `count / childTotal` stays at least
    /// `minTokenProbability`, for at most min(`maxTokens`, ⌈m · `maxSpecFactor`⌉) tokens; keep the
    /// draft with the highest sum of those products, ties to the longer match.
    mutating func speculate(context: [Int], maxTokens: Int, maxSpecFactor: Float,
                            minTokenProbability: Float) -> Draft {
        var best = Draft()
        guard maxTokens > 0 else { return best }
        var scratch: [Int] = []
        scratch.reserveCapacity(maxTokens)
        let longest = min(maxDepth, context.count)
        var matchLength = 1
        while matchLength <= longest {
            guard var node = match(context[(context.count - matchLength)...]) else { break }
            let cap = min(maxTokens, Int((Float(matchLength) * maxSpecFactor).rounded(.up)))
            scratch.removeAll(keepingCapacity: true)
            var probability: Float = 1, score: Float = 0
            while scratch.count < cap {
                let child = bestChild(of: node)
                if child == Self.none { break }
                probability *= Float(nodes[Int(child)].count) / Float(nodes[Int(node)].childTotal)
                if probability < minTokenProbability { break }
                scratch.append(Int(nodes[Int(child)].token))
                score += probability
                node = child
            }
            if !scratch.isEmpty && score >= best.score {
                best.tokens = scratch
                best.score = score
            }
            matchLength += 1
        }
        return best
    }

    /// The node whose path is `tokens`, if there is one.
    func match(_ tokens: ArraySlice<Int>) -> Int32? {
        var node = Self.root
        for token in tokens {
            guard let next = child(of: node, token: Int32(truncatingIfNeeded: token)) else { return nil }
            node = next
        }
        return node
    }

    // MARK: Nodes

    func child(of parent: Int32, token: Int32) -> Int32? {
        let table = nodes[Int(parent)].table
        if table != Self.none { return tables[Int(table)][token] }
        var child = nodes[Int(parent)].firstChild
        while child != Self.none {
            if nodes[Int(child)].token == token { return child }
            child = nodes[Int(child)].nextSibling
        }
        return nil
    }

    /// The child of `parent` for `token` (created if missing), with one more occurrence counted.
    private mutating func descend(from parent: Int32, token: Int32) -> Int32 {
        let child = child(of: parent, token: token) ?? addChild(to: parent, token: token)
        nodes[Int(child)].count += 1
        nodes[Int(parent)].childTotal += 1
        let best = nodes[Int(parent)].bestChild
        if best == Self.none || best != Self.stale && best != child && isBetter(child, than: best) {
            nodes[Int(parent)].bestChild = child
        }
        return child
    }

    private func isBetter(_ a: Int32, than b: Int32) -> Bool {
        let x = nodes[Int(a)], y = nodes[Int(b)]
        return x.count > y.count || x.count == y.count && x.token < y.token
    }

    private mutating func bestChild(of node: Int32) -> Int32 {
        let cached = nodes[Int(node)].bestChild
        if cached != Self.stale { return cached }
        var best = Self.none
        var child = nodes[Int(node)].firstChild
        while child != Self.none {
            if best == Self.none || isBetter(child, than: best) { best = child }
            child = nodes[Int(child)].nextSibling
        }
        nodes[Int(node)].bestChild = best
        return best
    }

    private mutating func addChild(to parent: Int32, token: Int32) -> Int32 {
        var node = Node(token: token)
        node.nextSibling = nodes[Int(parent)].firstChild
        let child: Int32
        if let reused = freeNodes.popLast() {
            child = reused
            nodes[Int(child)] = node
        } else {
            child = Int32(nodes.count)
            nodes.append(node)
        }
        nodes[Int(parent)].firstChild = child
        if nodes[Int(parent)].table != Self.none {
            tables[Int(nodes[Int(parent)].table)][token] = child
        } else if siblingCount(child) > Self.tableThreshold {
            var table: [Int32: Int32] = [:]
            var sibling = child
            while sibling != Self.none {
                table[nodes[Int(sibling)].token] = sibling
                sibling = nodes[Int(sibling)].nextSibling
            }
            nodes[Int(parent)].table = storeTable(table)
        }
        return child
    }

    private func siblingCount(_ first: Int32) -> Int {
        var count = 0, node = first
        while node != Self.none && count <= Self.tableThreshold {
            count += 1
            node = nodes[Int(node)].nextSibling
        }
        return count
    }

    private mutating func storeTable(_ table: [Int32: Int32]) -> Int32 {
        if let reused = freeTables.popLast() {
            tables[Int(reused)] = table
            return reused
        }
        tables.append(table)
        return Int32(tables.count - 1)
    }

    private mutating func unlink(_ child: Int32, from parent: Int32) {
        let table = nodes[Int(parent)].table
        if table != Self.none { tables[Int(table)][nodes[Int(child)].token] = nil }
        let next = nodes[Int(child)].nextSibling
        if nodes[Int(parent)].firstChild == child {
            nodes[Int(parent)].firstChild = next
            return
        }
        var previous = nodes[Int(parent)].firstChild
        while nodes[Int(previous)].nextSibling != child { previous = nodes[Int(previous)].nextSibling }
        nodes[Int(previous)].nextSibling = next
    }

    /// Frees `node` and its descendants, which form a chain (each has at most one child).
    private mutating func freeChain(_ node: Int32) {
        var node = node
        while node != Self.none {
            let next = nodes[Int(node)].firstChild
            let table = nodes[Int(node)].table
            if table != Self.none {
                tables[Int(table)] = [:]
                freeTables.append(table)
            }
            nodes[Int(node)] = Node(token: 0)
            freeNodes.append(node)
            node = next
        }
    }
}
