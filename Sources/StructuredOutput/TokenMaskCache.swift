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
/// and shared by every matcher of the grammar (behind a lock).
final class TokenMaskCache: Sendable {
    private let masks = Mutex<[MaskContext: AdaptiveTokenMask]>([:])

    /// The mask of `context`, computed now when it is not cached yet (outside the lock, so
    /// matchers of other contexts do not wait; two racing computations give equal masks).
    func mask(for context: MaskContext, grammar: Grammar, info: TokenizerInfo) -> AdaptiveTokenMask {
        if let cached = masks.withLock({ $0[context] }) { return cached }
        var builder = AdaptiveMaskBuilder(grammar: grammar, info: info)
        let mask = builder.build(context)
        return masks.withLock { table in
            if let cached = table[context] { return cached }
            table[context] = mask
            return mask
        }
    }

    var count: Int { masks.withLock { $0.count } }

    var statistics: TokenMaskCacheStatistics {
        masks.withLock { table in
            var s = TokenMaskCacheStatistics()
            s.contexts = table.count
            for mask in table.values {
                s.acceptedTokens += mask.acceptedCount
                s.uncertainTokens += mask.uncertainIds.count
                s.distinctSuffixes += mask.suffixCount
                s.memoryBytes += mask.memoryBytes
            }
            return s
        }
    }

    func removeAll() { masks.withLock { $0.removeAll() } }
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
    /// Approximate bytes held.
    public var memoryBytes = 0

    public init() {}
}

/// Computes one ``AdaptiveTokenMask``: walks the vocabulary in byte order as a trie from a
/// private stack made of the context (its bottom frame over an empty stack, so that the stepper's
/// "root may end" flag means "left the context"), keeping the state after each prefix byte and
/// skipping every token under a prefix that no path survives.
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
    /// States along the current prefix: level `d` (after `d` bytes) is
    /// `levelNodes[levelStart[d]..<levelStart[d + 1]]`; `leaves[d]`: a path left the context there.
    private var levelStart: [Int] = [0]
    private var levelNodes: [Int32] = []
    private var leaves: [Bool] = []
    private var seen: [UInt32] = []
    private var stamp: UInt32 = 0

    init(grammar: Grammar, info: TokenizerInfo) {
        self.grammar = grammar
        self.info = info
        stepper = PushdownStepper(grammar: grammar)
        byteSets = grammar.elements.map { if case .bytes(let set) = $0 { set } else { ByteSet() } }
    }

    mutating func build(_ context: MaskContext) -> AdaptiveTokenMask {
        var below = StackForest.bottom
        for k in stride(from: Int(context.frameCount) - 1, through: 0, by: -1) {
            below = stepper.forest.node(context.frames[k], parent: below)
        }
        let top = stepper.forest.node(context.position, parent: below)
        var start = MatchState(stacks: [], canEnd: false)
        stepper.close([top], into: &start)
        levelNodes = start.stacks
        levelStart = [0, levelNodes.count]
        leaves = [start.canEnd]

        let vocabSize = info.vocabSize
        var acceptedBits = [UInt64](repeating: 0, count: (vocabSize + 63) / 64)
        var acceptedCount = 0
        var uncertain: [(id: Int32, suffixes: [Int32])] = []
        var suffixIndex: [[UInt8]: Int32] = [:]
        var suffixList: [[UInt8]] = []

        info.bytes.withUnsafeBufferPointer { bytes in
            info.starts.withUnsafeBufferPointer { starts in
                let sorted = info.sortedIds, shared = info.sharedPrefix
                var top = 0  // deepest valid level
                var i = 0
                while i < sorted.count {
                    let id = Int(sorted[i])
                    let tokenStart = Int(starts[id]), length = Int(starts[id + 1]) - tokenStart
                    var depth = min(Int(shared[i]), top)
                    truncate(to: depth)
                    while depth < length && !levelIsEmpty(depth) {
                        advance(from: depth, byte: bytes[tokenStart + depth])
                        depth += 1
                    }
                    top = depth
                    let alive = !levelIsEmpty(depth)  // implies depth == length
                    // Classify this token and, when the prefix died, every token under it.
                    var j = i
                    repeat {
                        let tid = Int(sorted[j])
                        let s = Int(starts[tid]), n = Int(starts[tid + 1]) - s
                        if (alive && n == depth) || (n == depth && leaves[depth]) {
                            acceptedBits[tid >> 6] |= 1 << UInt64(tid & 63)
                            acceptedCount += 1
                        } else if !context.complete {
                            var found: [Int32] = []
                            for k in 0...min(depth, n - 1) where leaves[k] {
                                let suffix = Array(bytes[(s + k)..<(s + n)])
                                let index: Int32
                                if let known = suffixIndex[suffix] {
                                    index = known
                                } else {
                                    index = Int32(suffixList.count)
                                    suffixIndex[suffix] = index
                                    suffixList.append(suffix)
                                }
                                found.append(index)
                            }
                            if !found.isEmpty { uncertain.append((Int32(tid), found)) }
                        }
                        j += 1
                    } while !alive && j < sorted.count && Int(shared[j]) >= depth
                    i = j
                }
            }
        }

        // Suffixes in byte order, so a run-time walk shares their prefixes.
        let order = suffixList.indices.sorted { suffixList[$0].lexicographicallyPrecedes(suffixList[$1]) }
        var rank = [Int32](repeating: 0, count: suffixList.count)
        var suffixBytes: [UInt8] = [], suffixStart: [Int32] = [0], suffixShared: [Int32] = []
        for (r, index) in order.enumerated() {
            rank[index] = Int32(r)
            let suffix = suffixList[index]
            var common = 0
            if r > 0 {
                let previous = suffixList[order[r - 1]]
                while common < previous.count && common < suffix.count && previous[common] == suffix[common] { common += 1 }
            }
            suffixShared.append(Int32(common))
            suffixBytes.append(contentsOf: suffix)
            suffixStart.append(Int32(suffixBytes.count))
        }
        uncertain.sort { $0.id < $1.id }
        var uncertainStart: [Int32] = [0], uncertainSuffixes: [Int32] = []
        for entry in uncertain {
            uncertainSuffixes.append(contentsOf: entry.suffixes.map { rank[Int($0)] })
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

    private func levelIsEmpty(_ depth: Int) -> Bool { levelStart[depth] == levelStart[depth + 1] }

    /// Keeps levels `0...depth`.
    private mutating func truncate(to depth: Int) {
        levelNodes.removeSubrange(levelStart[depth + 1]...)
        levelStart.removeSubrange((depth + 2)...)
        leaves.removeSubrange((depth + 1)...)
    }

    /// Appends level `depth + 1`: the terminals of level `depth` that take `byte`, stepped and closed.
    private mutating func advance(from depth: Int, byte: UInt8) {
        stamp &+= 1
        if stamp == 0 {
            seen = []
            stamp = 1
        }
        var left = false
        var i = levelStart[depth]
        let end = levelStart[depth + 1]
        while i < end {
            let node = levelNodes[i]
            i += 1
            guard byteSets[Int(stepper.forest.positions[Int(node)])].contains(byte) else { continue }
            let (from, count, leaves) = closure(of: successor(of: node))
            left = left || leaves
            if seen.count < stepper.forest.count { seen.append(contentsOf: repeatElement(0, count: stepper.forest.count - seen.count + 256)) }
            for k in Int(from)..<Int(from + count) {
                let t = memoNodes[k]
                if seen[Int(t)] != stamp {
                    seen[Int(t)] = stamp
                    levelNodes.append(t)
                }
            }
        }
        levelStart.append(levelNodes.count)
        leaves.append(left)
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
