/// Follows one request's output through a compiled grammar, token by token, and can roll back
/// (speculative decoding rolls rejected drafts back; the stacks are persistent, so a rollback
/// only puts an earlier state back).
public final class GrammarMatcher {
    public let grammar: Grammar
    var stepper: PushdownStepper
    private(set) var state: MatchState
    /// The state before each accepted token, oldest first.
    private var history: [MatchState] = []
    /// Whether the end of generation was accepted (no more tokens fit).
    public private(set) var isTerminated = false
    /// Token mask state, when made from a ``CompiledGrammar`` (GrammarMatcher+Mask.swift).
    var maskRuntime: TokenMaskRuntime?

    public init(grammar: Grammar) {
        self.grammar = grammar
        stepper = PushdownStepper(grammar: grammar)
        state = stepper.initialState()
    }

    /// Whether the output so far is a complete match, so generation may end here.
    public var canTerminate: Bool { state.canEnd }

    /// Tokens accepted so far (the depth of the rollback history).
    public var numAcceptedTokens: Int { history.count }

    /// Takes the bytes of one token if the grammar allows all of them, else changes nothing.
    @discardableResult
    public func accept(bytes: some Sequence<UInt8>) -> Bool {
        guard !isTerminated else { return false }
        var next = state
        for byte in bytes {
            next = stepper.step(next, byte)
            if next.isDead { return false }
        }
        history.append(state)
        state = next
        return true
    }

    /// Whether `bytes` would be accepted from the current state (nothing changes).
    public func allows(bytes: some Sequence<UInt8>) -> Bool {
        guard !isTerminated else { return false }
        var next = state
        for byte in bytes {
            next = stepper.step(next, byte)
            if next.isDead { return false }
        }
        return true
    }

    /// Accepts the end of generation when the output is a complete match.
    @discardableResult
    public func acceptEnd() -> Bool {
        guard !isTerminated, state.canEnd else { return false }
        history.append(state)
        isTerminated = true
        return true
    }

    /// Undoes the last `count` accepted tokens (an accepted end counts as one).
    public func rollback(_ count: Int) {
        precondition(count <= history.count, "rolling back \(count) of \(history.count) tokens")
        guard count > 0 else { return }
        state = history[history.count - count]
        history.removeLast(count)
        isTerminated = false
    }

    /// Back to the start of the grammar.
    public func reset() {
        if !history.isEmpty { rollback(history.count) }
    }

    /// Whether the whole of `text` is a match of the grammar (for tests and validation).
    public static func matches(_ grammar: Grammar, _ text: String) -> Bool {
        let matcher = GrammarMatcher(grammar: grammar)
        return matcher.accept(bytes: Array(text.utf8)) && matcher.canTerminate
    }
}
