/// One request's record of how its drafts fared, and the draft length it earns: the estimated
/// chance α that a draft token is accepted given the ones before it were, decayed so the
/// estimate follows the text. A draft of length k pays while α^k, the chance its last token
/// counts, is above the step's break-even probability.
struct DraftAcceptance {
    /// Decayed counts of draft positions tried (up to the first rejection) and accepted; the
    /// prior (0.6) lets a new request try a few tokens.
    private var tried: Float = 2
    private var accepted: Float = 1.2
    /// Steps since the last draft, while drafting is off for this request.
    private var idleSteps = 0

    static let decay: Float = 0.9
    /// A request whose drafts stopped paying tries a one-token draft this often, to notice when they pay again.
    static let probeInterval = 16

    var alpha: Float { accepted / tried }

    mutating func record(drafted: Int, accepted count: Int) {
        guard drafted > 0 else { return }
        let positions = Float(min(drafted, count + 1))
        tried = tried * Self.decay + positions
        accepted = accepted * Self.decay + Float(count)
        idleSteps = 0
    }

    /// Draft tokens worth proposing now: the longest k ≤ `maxTokens` with α^k ≥ `breakEven`;
    /// when none is, zero, except for a one-token probe every ``probeInterval`` steps.
    mutating func length(maxTokens: Int, breakEven: Float) -> Int {
        var k = 0, chance: Float = 1
        while k < maxTokens {
            chance *= alpha
            guard chance >= breakEven else { break }
            k += 1
        }
        if k > 0 { return k }
        idleSteps += 1
        if idleSteps >= Self.probeInterval && breakEven < 0.9 && maxTokens > 0 {
            idleSteps = 0
            return 1
        }
        return 0
    }
}

extension Request {
    /// Keeps only the first `count` draft tokens.
    func dropDrafts(keeping count: Int) {
        guard count < specTokenIds.count else { return }
        specTokenIds.removeSubrange(count...)
        specProbabilities?.removeSubrange(count...)
        if count == 0 { specProbabilities = nil }
    }

    /// After a step verified `drafted` drafts and kept `accepted`: the drafts are spent.
    func finishVerification(drafted: Int, accepted: Int) {
        draftAcceptance.record(drafted: drafted, accepted: accepted)
        dropDrafts(keeping: 0)
    }

    func setDrafts(_ tokens: [Int], probabilities: [[Float]]?) {
        specTokenIds = tokens
        specProbabilities = probabilities
    }
}
