/// Draws random strings of a compiled grammar's language (for property tests and coverage):
/// a seeded random walk over bytes through the pushdown automaton.
///
/// Up to the byte budget each step picks a random stack, then a random byte of its terminal,
/// and stops at random where the grammar may end. Past the budget it always follows the stack
/// with the shortest completion, so it ends after at most that many more bytes. Shortest
/// completions come from a fixpoint over rules (the shortest match of each rule), summed over
/// a stack's positions. Grammars built from characters yield valid UTF-8.
public struct GrammarSampler {
    public let grammar: Grammar
    private var stepper: PushdownStepper
    private var rng: SplitMix64
    /// Shortest completion of each stack node (memoized over the stepper's forest).
    private var distance: CompletionDistance

    public init(grammar: Grammar, seed: UInt64) {
        self.grammar = grammar
        stepper = PushdownStepper(grammar: grammar)
        rng = SplitMix64(seed: seed)
        distance = CompletionDistance(grammar: grammar)
    }

    /// One string of the grammar's language. Beyond `maxBytes` bytes the walk heads for the
    /// nearest end, so the result is at most `maxBytes` plus one shortest completion long.
    /// Returns an empty array only when the grammar matches the empty string there.
    public mutating func sample(maxBytes: Int) -> [UInt8] {
        var state = stepper.initialState()
        var out: [UInt8] = []
        while true {
            let overBudget = out.count >= maxBytes
            if state.canEnd && (state.stacks.isEmpty || overBudget || rng.next() % 3 == 0) { return out }
            if state.stacks.isEmpty { return out }
            let node: Int32
            if overBudget {
                node = state.stacks.min { completionLength($0) < completionLength($1) }!
            } else {
                node = state.stacks[Int(rng.next() % UInt64(state.stacks.count))]
            }
            guard case .bytes(let set) = grammar.elements[Int(stepper.forest.positions[Int(node)])] else { return out }
            let members = (0...255).compactMap { set.contains(UInt8($0)) ? UInt8($0) : nil }
            var byte = members[Int(rng.next() % UInt64(members.count))]
            var next = stepper.step(state, byte)
            if next.isDead {
                // A dead end (an unproductive rule): take any byte that keeps the walk alive.
                guard let alive = members.first(where: { !stepper.step(state, $0).isDead }) else { return out }
                byte = alive
                next = stepper.step(state, byte)
            }
            out.append(byte)
            state = next
        }
    }

    private mutating func completionLength(_ node: Int32) -> Int {
        distance.length(of: node, in: stepper.forest)
    }
}

/// A small seeded generator (SplitMix64), so samples repeat across runs and platforms.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
