extension GrammarMatcher {
    /// A matcher that can also give token masks and accept token ids, through `compiled`'s
    /// vocabulary and shared mask cache.
    public convenience init(compiled: CompiledGrammar) {
        self.init(grammar: compiled.grammar)
        maskRuntime = TokenMaskRuntime(compiled)
    }

    /// The compiled grammar this matcher was made from, if any.
    public var compiledGrammar: CompiledGrammar? { maskRuntime?.compiled }

    /// Fills `mask` with the tokens that may come next: the stop tokens when the output so far
    /// is a complete match, and every other token whose bytes the grammar takes from here.
    /// Nothing is allowed once the end was accepted.
    ///
    /// Per stack top, the cached adaptive mask gives the accepted tokens at once; only its
    /// uncertain tokens are checked against the real stack below (each distinct remainder once,
    /// memoized per stack node, since nodes never change).
    ///
    /// `mask` may be wider than the vocabulary (a model's padded output): ids past the
    /// vocabulary are never allowed. A narrower mask drops the ids past its end.
    ///
    /// - Precondition: the matcher was made with ``init(compiled:)``.
    public func fillNextTokenBitmask(_ mask: inout TokenBitmask) {
        guard let runtime = maskRuntime else { preconditionFailure("fillNextTokenBitmask needs a matcher made with init(compiled:)") }
        mask.removeAll()
        guard !isTerminated else { return }
        runtime.fill(&mask, state: state, stepper: &stepper)
        if mask.vocabSize < runtime.compiled.tokenizerInfo.vocabSize { mask.clearTail() }
    }

    /// The mask of the tokens that may come next (allocates; engines reuse one mask with
    /// ``fillNextTokenBitmask(_:)``).
    public func nextTokenBitmask() -> TokenBitmask {
        guard let runtime = maskRuntime else { preconditionFailure("nextTokenBitmask needs a matcher made with init(compiled:)") }
        var mask = TokenBitmask(vocabSize: runtime.compiled.tokenizerInfo.vocabSize)
        fillNextTokenBitmask(&mask)
        return mask
    }

    /// Accepts token `id` if the grammar allows it, else changes nothing: a stop token accepts
    /// the end (``acceptEnd()``), a special token or an id outside the vocabulary is refused,
    /// any other token is accepted by its bytes.
    ///
    /// - Precondition: the matcher was made with ``init(compiled:)``.
    @discardableResult
    public func acceptToken(_ id: Int) -> Bool {
        guard let info = maskRuntime?.compiled.tokenizerInfo else { preconditionFailure("acceptToken needs a matcher made with init(compiled:)") }
        if info.isStopToken(id) { return acceptEnd() }
        if info.isSpecialToken(id) { return false }
        return accept(bytes: info.tokenBytes(id))
    }

    /// Accepts each of `ids` in turn, stopping at the first refused; returns how many were accepted.
    @discardableResult
    public func acceptTokens(_ ids: some Sequence<Int>) -> Int {
        var count = 0
        for id in ids {
            guard acceptToken(id) else { break }
            count += 1
        }
        return count
    }
}

/// A matcher's side of the token masks: the cached masks it has looked up, the context of each
/// stack node it has met, and the checked uncertain tokens per (mask, node below the context).
/// All of it is keyed by ids of the matcher's persistent stack nodes, so it stays valid across
/// rollbacks.
final class TokenMaskRuntime {
    let compiled: CompiledGrammar
    private let depth: Int
    /// Masks this matcher uses, by context, and their local indices.
    private var maskIndex: [MaskContext: Int32] = [:]
    private var masks: [AdaptiveTokenMask] = []
    /// Per stack node: the nearest node at or below it whose position is not an `.end`
    /// (`bottom` when none), or `unknown`.
    private var solid: [Int32] = []
    private static let unknown: Int32 = -2
    /// Per stack node met as a top: its local mask index and the node below its context
    /// (`bottom` when the context is complete), or `unknown`.
    private var topMask: [Int32] = []
    private var topBelow: [Int32] = []
    /// Accepted uncertain tokens, by (local mask index, node below the context).
    private var checked: [UInt64: [Int32]] = [:]
    /// Masks already ORed in during this fill.
    private var usedStamp: [UInt32] = []
    private var stamp: UInt32 = 0
    private var results: [Bool] = []
    private var levels: [MatchState] = []

    init(_ compiled: CompiledGrammar) {
        self.compiled = compiled
        depth = compiled.contextDepth
    }

    /// The fill of ``GrammarMatcher/fillNextTokenBitmask(_:)`` for a live state (`mask` cleared).
    func fill(_ mask: inout TokenBitmask, state: MatchState, stepper: inout PushdownStepper) {
        let info = compiled.tokenizerInfo
        if state.canEnd {
            for id in info.stopTokenIds where id < mask.vocabSize { mask[id] = true }
        }
        stamp &+= 1
        if stamp == 0 {
            usedStamp = []
            stamp = 1
        }
        for node in state.stacks {
            let (index, below) = resolve(node, forest: stepper.forest)
            let adaptive = masks[Int(index)]
            if Int(index) >= usedStamp.count { usedStamp.append(contentsOf: repeatElement(0, count: Int(index) + 16 - usedStamp.count)) }
            if usedStamp[Int(index)] != stamp {
                usedStamp[Int(index)] = stamp
                switch adaptive.accepted {
                case .bits(let words): mask.orWords(words)
                case .ids(let ids): mask.words.withUnsafeMutableBufferPointer { set(ids, in: $0) }
                }
            }
            guard !adaptive.uncertainIds.isEmpty, below != StackForest.bottom else { continue }
            let key = UInt64(UInt32(bitPattern: index)) << 32 | UInt64(UInt32(bitPattern: below))
            let ids: [Int32]
            if let known = checked[key] {
                ids = known
            } else {
                ids = sharedCheck(adaptive, below: below, stepper: &stepper)
                checked[key] = ids
            }
            mask.words.withUnsafeMutableBufferPointer { set(ids, in: $0) }
        }
    }

    private func set(_ ids: [Int32], in words: UnsafeMutableBufferPointer<UInt64>) {
        let limit = Int32(truncatingIfNeeded: words.count << 6)
        ids.withUnsafeBufferPointer { ids in
            for id in ids where id < limit { words[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        }
    }

    /// The cached mask of stack top `node` and the node below its context.
    private func resolve(_ node: Int32, forest: StackForest) -> (Int32, Int32) {
        let n = Int(node)
        if n < topMask.count, topMask[n] != Self.unknown { return (topMask[n], topBelow[n]) }
        var context = MaskContext(position: forest.positions[n])
        var below = forest.parents[n]
        while Int(context.frameCount) < depth {
            below = solidNode(below, forest: forest)
            if below == StackForest.bottom { break }
            context.frames[Int(context.frameCount)] = forest.positions[Int(below)]
            context.frameCount += 1
            below = forest.parents[Int(below)]
        }
        if solidNode(below, forest: forest) == StackForest.bottom {
            context.complete = true
            below = StackForest.bottom
        }
        let index: Int32
        if let known = maskIndex[context] {
            index = known
        } else {
            index = Int32(masks.count)
            masks.append(compiled.adaptiveMask(for: context))
            maskIndex[context] = index
        }
        if n >= topMask.count {
            let grow = max(n + 1, forest.count) + 256 - topMask.count
            topMask.append(contentsOf: repeatElement(Self.unknown, count: grow))
            topBelow.append(contentsOf: repeatElement(Self.unknown, count: grow))
        }
        topMask[n] = index
        topBelow[n] = below
        return (index, below)
    }

    /// The nearest node at or below `node` that is not a frame at an `.end`.
    private func solidNode(_ node: Int32, forest: StackForest) -> Int32 {
        if node == StackForest.bottom { return node }
        if Int(node) < solid.count, solid[Int(node)] != Self.unknown { return solid[Int(node)] }
        var answer = node
        while answer != StackForest.bottom && compiled.isEndPosition[Int(forest.positions[Int(answer)])] {
            answer = forest.parents[Int(answer)]
            if answer != StackForest.bottom, Int(answer) < solid.count, solid[Int(answer)] != Self.unknown {
                answer = solid[Int(answer)]
                break
            }
        }
        if Int(node) >= solid.count {
            solid.append(contentsOf: repeatElement(Self.unknown, count: max(Int(node) + 1, forest.count) + 256 - solid.count))
        }
        solid[Int(node)] = answer
        return answer
    }

    /// The uncertain tokens of `adaptive` that the stack `below` takes, from the grammar's shared
    /// cache when another matcher met the same stack (every request of a schema walks the same
    /// few), else checked here and shared.
    private func sharedCheck(_ adaptive: AdaptiveTokenMask, below: Int32, stepper: inout PushdownStepper) -> [Int32] {
        var positions: [Int32] = []
        var node = below
        while node != StackForest.bottom && positions.count <= TokenMaskCache.maxCheckDepth {
            positions.append(stepper.forest.positions[Int(node)])
            node = stepper.forest.parents[Int(node)]
        }
        guard node == StackForest.bottom else { return check(adaptive, below: below, stepper: &stepper) }
        let key = TokenMaskCache.UncertainCheck(context: adaptive.context, below: positions)
        if let known = compiled.cache.checked(key) { return known }
        let ids = check(adaptive, below: below, stepper: &stepper)
        compiled.cache.storeChecked(key, ids)
        return ids
    }

    /// The uncertain tokens of `adaptive` that the real stack takes: a token is taken when one of
    /// its remainders is taken from `below` (the stack under the context). Each distinct
    /// remainder runs once, in byte order, reusing the states of shared prefixes.
    private func check(_ adaptive: AdaptiveTokenMask, below: Int32, stepper: inout PushdownStepper) -> [Int32] {
        var start = MatchState(stacks: [], canEnd: false)
        stepper.close([below], into: &start)
        levels.removeAll(keepingCapacity: true)
        levels.append(start)
        let count = adaptive.suffixCount
        results.removeAll(keepingCapacity: true)
        results.reserveCapacity(count)
        adaptive.suffixBytes.withUnsafeBufferPointer { bytes in
            for s in 0..<count {
                let from = Int(adaptive.suffixStart[s]), length = Int(adaptive.suffixStart[s + 1]) - from
                let keep = min(Int(adaptive.suffixShared[s]), levels.count - 1)
                levels.removeSubrange((keep + 1)...)
                var d = keep
                while d < length && !levels[d].isDead {
                    levels.append(stepper.step(levels[d], bytes[from + d]))
                    d += 1
                }
                results.append(d == length && !levels[d].isDead)
            }
        }
        var taken: [Int32] = []
        for (i, id) in adaptive.uncertainIds.enumerated() {
            for k in Int(adaptive.uncertainSuffixStart[i])..<Int(adaptive.uncertainSuffixStart[i + 1])
            where results[Int(adaptive.uncertainSuffixes[k])] {
                taken.append(id)
                break
            }
        }
        return taken
    }
}
