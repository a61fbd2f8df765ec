import Synchronization

/// Where a stack top sits, as far as a cached token mask depends on it: a terminal position and
/// the return positions of the first `frameCount` frames below it (frames whose position is an
/// `.end` are skipped: they return at once, so they change nothing), and whether the stack
/// ends there (`complete`) or goes on below (an unknown context).
///
/// With no frames this is XGrammar's key, the stack element alone. A frame or two more makes
/// most tokens that leave a small rule decidable from the cache: compiled character classes
/// and repetitions are rules of their own, so a token like `hello` leaves the one-character
/// rule of a string's class after `h`, but not the string.
struct MaskContext: Hashable, Sendable {
    /// Most frames a context records.
    static let maxFrames = 4
    var position: Int32
    /// `frames[0]` is the nearest; unused lanes are -1.
    var frames: SIMD4<Int32> = SIMD4(repeating: -1)
    var frameCount: Int32 = 0
    /// Whether the stack has nothing below the frames (the root rule is among them).
    var complete = false
}

/// The adaptive token mask of one ``MaskContext`` (XGrammar's `AdaptiveTokenMask`): tokens
/// accepted from that context whatever lies below it, and tokens whose fate depends on what
/// lies below (uncertain); all other tokens are rejected.
///
/// A token is uncertain when no path consumes all its bytes inside the context but some path
/// leaves the context (completes its bottom frame's rule) with bytes left. Those remaining
/// bytes (a suffix of the token) are kept, deduplicated, so the check against a real stack runs
/// each distinct suffix once from the stack below the context instead of each whole token.
final class AdaptiveTokenMask: Sendable {
    enum Accepted: Sendable {
        /// A bitmask over the vocabulary (when more than one token in 32 is accepted: the smaller form).
        case bits([UInt64])
        /// Accepted ids, ascending.
        case ids([Int32])
    }

    let context: MaskContext
    let accepted: Accepted
    let acceptedCount: Int
    /// Uncertain ids, ascending.
    let uncertainIds: [Int32]
    /// For `uncertainIds[i]`, its suffixes are `uncertainSuffixes[uncertainSuffixStart[i]..<uncertainSuffixStart[i + 1]]`.
    let uncertainSuffixStart: [Int32]
    let uncertainSuffixes: [Int32]
    /// The distinct suffixes, sorted by bytes: suffix `s` is `suffixBytes[suffixStart[s]..<suffixStart[s + 1]]`.
    let suffixBytes: [UInt8]
    let suffixStart: [Int32]
    /// For suffix `s`, the bytes it shares with suffix `s - 1`.
    let suffixShared: [Int32]

    init(context: MaskContext, accepted: Accepted, acceptedCount: Int, uncertainIds: [Int32],
         uncertainSuffixStart: [Int32], uncertainSuffixes: [Int32], suffixBytes: [UInt8],
         suffixStart: [Int32], suffixShared: [Int32]) {
        self.context = context
        self.accepted = accepted
        self.acceptedCount = acceptedCount
        self.uncertainIds = uncertainIds
        self.uncertainSuffixStart = uncertainSuffixStart
        self.uncertainSuffixes = uncertainSuffixes
        self.suffixBytes = suffixBytes
        self.suffixStart = suffixStart
        self.suffixShared = suffixShared
    }

    var suffixCount: Int { suffixStart.count - 1 }

    /// Bytes held, roughly.
    var memoryBytes: Int {
        let acceptedBytes: Int
        switch accepted {
        case .bits(let words): acceptedBytes = words.count * 8
        case .ids(let ids): acceptedBytes = ids.count * 4
        }
        return acceptedBytes + uncertainIds.count * 8 + uncertainSuffixes.count * 4 + suffixBytes.count + suffixStart.count * 8
    }
}

/// The adaptive token masks of one ``CompiledGrammar``, computed on first use of each context
/// and shared by every matcher of the grammar (behind a lock), and the outcome of checking a
/// mask's uncertain tokens against each whole stack met below its context.
final class TokenMaskCache: Sendable {
    private let masks = Mutex<[MaskContext: AdaptiveTokenMask]>([:])
    private let checks = Mutex<[UncertainCheck: [Int32]]>([:])
    private let builder = Mutex<AdaptiveMaskBuilder?>(nil)
    /// Most checked stacks kept (each a few hundred bytes at most); past it, checks are not shared.
    static let maxChecks = 65_536
    /// Deepest stack below a context whose check is shared.
    static let maxCheckDepth = 64

    /// A mask's context and the grammar positions of the whole stack below it, top first.
    struct UncertainCheck: Hashable, Sendable {
        var context: MaskContext
        var below: [Int32]
    }

    /// The uncertain tokens of a context that the stack `below` takes, when some matcher checked them.
    func checked(_ key: UncertainCheck) -> [Int32]? { checks.withLock { $0[key] } }

    /// Keeps the outcome of a check for other matchers.
    func storeChecked(_ key: UncertainCheck, _ ids: [Int32]) {
        checks.withLock { table in
            if table.count < Self.maxChecks { table[key] = ids }
        }
    }

    /// The mask of `context`, computed now when it is not cached yet (outside the lock, so
    /// matchers of other contexts do not wait; two racing computations give equal masks).
    func mask(for context: MaskContext, grammar: Grammar, info: TokenizerInfo) -> AdaptiveTokenMask {
        if let cached = masks.withLock({ $0[context] }) { return cached }
        // One builder serves the grammar's contexts in turn, so stack nodes, closures and
        // determinized states that contexts share are computed once; a matcher that finds it
        // busy builds with a fresh one instead of waiting.
        let mask = builder.withLockIfAvailable { kept -> AdaptiveTokenMask in
            if kept == nil || kept!.isLarge { kept = AdaptiveMaskBuilder(grammar: grammar, info: info) }
            return kept!.build(context)
        } ?? {
            var fresh = AdaptiveMaskBuilder(grammar: grammar, info: info)
            return fresh.build(context)
        }()
        return masks.withLock { table in
            if let cached = table[context] { return cached }
            table[context] = mask
            return mask
        }
    }

    var count: Int { masks.withLock { $0.count } }

    var statistics: TokenMaskCacheStatistics {
        let builderBytes = builder.withLock { $0?.memoryBytes ?? 0 }
        return masks.withLock { table in
            var s = TokenMaskCacheStatistics()
            s.contexts = table.count
            for mask in table.values {
                s.acceptedTokens += mask.acceptedCount
                s.uncertainTokens += mask.uncertainIds.count
                s.distinctSuffixes += mask.suffixCount
                s.memoryBytes += mask.memoryBytes
            }
            s.memoryBytes += builderBytes
            return s
        }
    }

    func removeAll() {
        masks.withLock { $0.removeAll() }
        checks.withLock { $0.removeAll() }
        builder.withLock { $0 = nil }
    }
}

/// How much a ``CompiledGrammar``'s token mask cache holds.
public struct TokenMaskCacheStatistics: Codable, Sendable, Equatable {
    /// Contexts (stack tops with their nearest frames) computed so far.
    public var contexts = 0
    /// Accepted tokens, summed over contexts.
    public var acceptedTokens = 0
    /// Uncertain tokens (checked against the real stack at run time), summed over contexts.
    public var uncertainTokens = 0
    /// Distinct remainders of uncertain tokens, summed over contexts.
    public var distinctSuffixes = 0
    /// Approximate bytes held (masks, and the builder the grammar keeps for its next contexts).
    public var memoryBytes = 0

    public init() {}
}

/// The transition table of ``AdaptiveMaskBuilder``'s determinized states, 256 slots per state
/// (-1 until known), held in one buffer that its walk reads without bounds checks.
final class TransitionTable {
    private(set) var base: UnsafeMutablePointer<Int32>
    private var states = 0
    private var capacity = 16

    init() {
        base = .allocate(capacity: capacity << 8)
    }

    deinit { base.deallocate() }

    /// Adds the slots of one more state, all unknown.
    func addState() {
        if states == capacity {
            let grown = UnsafeMutablePointer<Int32>.allocate(capacity: capacity << 9)
            grown.moveInitialize(from: base, count: states << 8)
            base.deallocate()
            base = grown
            capacity <<= 1
        }
        (base + (states << 8)).initialize(repeating: -1, count: 256)
        states += 1
    }
}

/// Computes one ``AdaptiveTokenMask``: walks the vocabulary in byte order as a trie from a
/// private stack made of the context (its bottom frame over an empty stack, so that the stepper's
/// "root may end" flag means "left the context"), keeping the state after each prefix byte and
/// skipping every token under a prefix that no path survives.
///
/// The states are determinized as the walk meets them: a state is a set of stack nodes (and
/// whether a path left the context) interned to an id, and each (state, byte) step is computed
/// once. Inside a JSON string most of the vocabulary's trie walks through the same few states,
/// so nearly every step of the walk is one table read.
struct AdaptiveMaskBuilder {
    let grammar: Grammar
    let info: TokenizerInfo
    private var stepper: PushdownStepper
    /// Closure of a node reached by a byte, memoized by node id: `memoStart[n] == -1` until known.
    private var memoStart: [Int32] = []
    private var memoCount: [Int32] = []
    private var memoLeaves: [Bool] = []
    private var memoNodes: [Int32] = []
    /// Per node id: the node after its byte, or -1 until known.
    private var successors: [Int32] = []
    /// Per grammar position: the bytes its terminal takes (empty for rules and ends).
    private let byteSets: [ByteSet]
    /// The determinized states met so far: state `k` is the terminal nodes
    /// `stateNodes[stateStart[k]..<stateStart[k + 1]]` (sorted) and whether a path left the
    /// context on the byte that reached it; states are passed around as handles (``isEmpty(_:)``).
    private var stateNodes: [Int32] = []
    private var stateStart: [Int32] = [0]
    private var stateIndex: [StateKey: Int32] = [:]
    /// `transitions[k << 8 | byte]`: the handle after `byte` from state `k`, or -1 until known.
    private let transitions = TransitionTable()
    private var scratch: [Int32] = []
    private var seen: [UInt32] = []
    private var stamp: UInt32 = 0

    init(grammar: Grammar, info: TokenizerInfo) {
        self.grammar = grammar
        self.info = info
        stepper = PushdownStepper(grammar: grammar)
        byteSets = grammar.elements.map { if case .bytes(let set) = $0 { set } else { ByteSet() } }
    }

    /// Whether the builder holds so much (its transition table takes 1 KiB per state) that a
    /// fresh one should take over: a grammar keeps its builder as long as it stays cached.
    var isLarge: Bool { stepper.forest.count > 1 << 16 || stateStart.count > 512 }

    /// Bytes held, roughly: the transition table and about 40 bytes per stack node.
    var memoryBytes: Int { stateStart.count * 1024 + stateNodes.count * 4 + stepper.forest.count * 40 }

    mutating func build(_ context: MaskContext) -> AdaptiveTokenMask {
        var below = StackForest.bottom
        for k in stride(from: Int(context.frameCount) - 1, through: 0, by: -1) {
            below = stepper.forest.node(context.frames[k], parent: below)
        }
        let top = stepper.forest.node(context.position, parent: below)
        var start = MatchState(stacks: [], canEnd: false)
        stepper.close([top], into: &start)
        let startState = intern(start.stacks, leaves: start.canEnd)

        let vocabSize = info.vocabSize
        var acceptedBits = [UInt64](repeating: 0, count: (vocabSize + 63) / 64)
        var acceptedCount = 0
        // Uncertain tokens and the byte ranges of their remainders in `info.sortedBytes`.
        var uncertain: [(id: Int32, first: Int32, count: Int32)] = []
        var remainders: [(from: Int32, to: Int32)] = []
        // Along the current prefix: the state after `d` bytes, and whether a path left the
        // context within the first `d` bytes.
        var levels = [Int32](repeating: 0, count: info.maxTokenLength + 1)
        var leftBy = [Bool](repeating: false, count: info.maxTokenLength + 1)
        levels[0] = startState
        leftBy[0] = Self.leaves(startState)

        info.sortedBytes.withUnsafeBufferPointer { bytes in
        info.sortedStarts.withUnsafeBufferPointer { starts in
        info.sortedIds.withUnsafeBufferPointer { sorted in
        info.sharedPrefix.withUnsafeBufferPointer { shared in
        info.subtreeEnd.withUnsafeBufferPointer { subtreeEnd in
        levels.withUnsafeMutableBufferPointer { levels in
        leftBy.withUnsafeMutableBufferPointer { leftBy in
        acceptedBits.withUnsafeMutableBufferPointer { acceptedBits in
            var table = transitions.base
            var top = 0  // deepest valid level
            var i = 0
            while i < sorted.count {
                let tokenStart = Int(starts[i]), length = Int(starts[i + 1]) - tokenStart
                var depth = min(Int(shared[i]), top)
                var state = levels[depth]
                while depth < length && !Self.isEmpty(state) {
                    let byte = bytes[tokenStart + depth]
                    var next = table[Int(state >> 2) << 8 | Int(byte)]
                    if next < 0 {
                        next = transition(state, byte)
                        table = transitions.base
                    }
                    depth += 1
                    levels[depth] = next
                    leftBy[depth] = leftBy[depth - 1] || Self.leaves(next)
                    state = next
                }
                top = depth
                let alive = !Self.isEmpty(state)  // implies depth == length
                if alive {
                    let tid = Int(sorted[i])
                    acceptedBits[tid >> 6] |= 1 << UInt64(tid & 63)
                    acceptedCount += 1
                    i += 1
                    continue
                }
                if !(context.complete ? Self.leaves(state) : leftBy[depth]) {
                    // The prefix died and no path left the context on the way (for a
                    // complete context: none ended with it): every token under it is rejected.
                    var j = Int(subtreeEnd[i])
                    while j < sorted.count && Int(shared[j]) >= depth { j = Int(subtreeEnd[j]) }
                    i = j
                    continue
                }
                // The prefix died but a path left the context (or ended) on the way: classify
                // every token under it.
                var j = i
                repeat {
                    let tid = Int(sorted[j])
                    let s = Int(starts[j]), n = Int(starts[j + 1]) - s
                    if n == depth && Self.leaves(state) {
                        acceptedBits[tid >> 6] |= 1 << UInt64(tid & 63)
                        acceptedCount += 1
                    } else if !context.complete {
                        let first = remainders.count
                        for k in 0...min(depth, n - 1) where Self.leaves(levels[k]) {
                            remainders.append((Int32(s + k), Int32(s + n)))
                        }
                        if remainders.count > first {
                            uncertain.append((Int32(tid), Int32(first), Int32(remainders.count - first)))
                        }
                    }
                    j += 1
                } while j < sorted.count && Int(shared[j]) >= depth
                i = j
            }
        }
        }
        }
        }
        }
        }
        }
        }

        // Distinct remainders in byte order, so a run-time walk shares their prefixes.
        var suffixBytes: [UInt8] = [], suffixStart: [Int32] = [0], suffixShared: [Int32] = []
        var rank = [Int32](repeating: 0, count: remainders.count)
        info.sortedBytes.withUnsafeBufferPointer { bytes in
            func slice(_ r: Int) -> UnsafeBufferPointer<UInt8>.SubSequence {
                bytes[Int(remainders[r].from)..<Int(remainders[r].to)]
            }
            let order = remainders.indices.sorted { slice($0).lexicographicallyPrecedes(slice($1)) }
            var previous = -1
            for r in order {
                let remainder = slice(r)
                if previous >= 0, slice(previous).elementsEqual(remainder) {
                    rank[r] = Int32(suffixShared.count - 1)
                    continue
                }
                var common = 0
                if previous >= 0 {
                    let last = slice(previous)
                    while common < last.count && common < remainder.count
                        && last[last.startIndex + common] == remainder[remainder.startIndex + common] { common += 1 }
                }
                rank[r] = Int32(suffixShared.count)
                suffixShared.append(Int32(common))
                suffixBytes.append(contentsOf: remainder)
                suffixStart.append(Int32(suffixBytes.count))
                previous = r
            }
        }
        uncertain.sort { $0.id < $1.id }
        var uncertainStart: [Int32] = [0], uncertainSuffixes: [Int32] = []
        for entry in uncertain {
            for r in Int(entry.first)..<Int(entry.first + entry.count) { uncertainSuffixes.append(rank[r]) }
            uncertainStart.append(Int32(uncertainSuffixes.count))
        }

        let accepted: AdaptiveTokenMask.Accepted
        if acceptedCount * 4 > acceptedBits.count * 8 {
            accepted = .bits(acceptedBits)
        } else {
            var ids: [Int32] = []
            ids.reserveCapacity(acceptedCount)
            for (w, word) in acceptedBits.enumerated() {
                var bits = word
                while bits != 0 {
                    ids.append(Int32(w << 6 | bits.trailingZeroBitCount))
                    bits &= bits &- 1
                }
            }
            accepted = .ids(ids)
        }
        return AdaptiveTokenMask(
            context: context, accepted: accepted, acceptedCount: acceptedCount, uncertainIds: uncertain.map(\.id),
            uncertainSuffixStart: uncertainStart, uncertainSuffixes: uncertainSuffixes, suffixBytes: suffixBytes,
            suffixStart: suffixStart, suffixShared: suffixShared)
    }

    /// A state handle is its id shifted left by two, with bit 1 set when it has no terminal
    /// (no byte goes on from it) and bit 0 when a path left the context on the byte that reached it.
    private static func isEmpty(_ state: Int32) -> Bool { state & 2 != 0 }
    private static func leaves(_ state: Int32) -> Bool { state & 1 != 0 }

    private struct StateKey: Hashable {
        var nodes: [Int32]
        var leaves: Bool
    }

    /// The handle of the state of terminal `nodes` (sorted, distinct).
    private mutating func intern(_ nodes: [Int32], leaves: Bool) -> Int32 {
        let key = StateKey(nodes: nodes, leaves: leaves)
        if let known = stateIndex[key] { return known }
        let id = Int32(stateStart.count - 1)
        stateNodes.append(contentsOf: nodes)
        stateStart.append(Int32(stateNodes.count))
        transitions.addState()
        let handle = id << 2 | (nodes.isEmpty ? 2 : 0) | (leaves ? 1 : 0)
        stateIndex[key] = handle
        return handle
    }

    /// The state after `byte` from `state`: its terminals that take `byte`, stepped and closed.
    private mutating func transition(_ state: Int32, _ byte: UInt8) -> Int32 {
        let slot = Int(state >> 2) << 8 | Int(byte)
        if transitions.base[slot] >= 0 { return transitions.base[slot] }
        let id = Int(state >> 2)
        stamp &+= 1
        if stamp == 0 {
            seen = []
            stamp = 1
        }
        var left = false
        scratch.removeAll(keepingCapacity: true)
        for i in Int(stateStart[id])..<Int(stateStart[id + 1]) {
            let node = stateNodes[i]
            guard byteSets[Int(stepper.forest.positions[Int(node)])].contains(byte) else { continue }
            let (from, count, leaves) = closure(of: successor(of: node))
            left = left || leaves
            if seen.count < stepper.forest.count { seen.append(contentsOf: repeatElement(0, count: stepper.forest.count - seen.count + 256)) }
            for k in Int(from)..<Int(from + count) {
                let t = memoNodes[k]
                if seen[Int(t)] != stamp {
                    seen[Int(t)] = stamp
                    scratch.append(t)
                }
            }
        }
        scratch.sort()
        let next = intern(scratch, leaves: left)
        transitions.base[slot] = next
        return next
    }

    /// The node after terminal `node` takes its byte (memoized: it does not depend on the byte).
    private mutating func successor(of node: Int32) -> Int32 {
        if Int(node) < successors.count, successors[Int(node)] >= 0 { return successors[Int(node)] }
        let next = stepper.forest.node(stepper.forest.positions[Int(node)] + 1, parent: stepper.forest.parents[Int(node)])
        if Int(node) >= successors.count {
            successors.append(contentsOf: repeatElement(-1, count: stepper.forest.count + 256 - successors.count))
        }
        successors[Int(node)] = next
        return next
    }

    /// The terminal tops reachable from `node` without consuming a byte, and whether the context
    /// can be left (memoized: nodes are immutable).
    private mutating func closure(of node: Int32) -> (Int32, Int32, Bool) {
        if Int(node) < memoStart.count, memoStart[Int(node)] >= 0 {
            return (memoStart[Int(node)], memoCount[Int(node)], memoLeaves[Int(node)])
        }
        var state = MatchState(stacks: [], canEnd: false)
        stepper.close([node], into: &state)
        let grow = stepper.forest.count + 256 - memoStart.count
        if grow > 0 {
            memoStart.append(contentsOf: repeatElement(-1, count: grow))
            memoCount.append(contentsOf: repeatElement(0, count: grow))
            memoLeaves.append(contentsOf: repeatElement(false, count: grow))
        }
        let from = Int32(memoNodes.count)
        memoNodes.append(contentsOf: state.stacks)
        memoStart[Int(node)] = from
        memoCount[Int(node)] = Int32(state.stacks.count)
        memoLeaves[Int(node)] = state.canEnd
        return (from, Int32(state.stacks.count), state.canEnd)
    }
}
