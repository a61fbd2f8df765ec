/// A proposer that drafts from the target's hidden states (MTP layers): after each step the
/// engine hands it, for every request the step ran, the final hidden states of the positions
/// that step computed and kept (rejected drafts' positions left out).
public protocol HiddenStateObserver: AnyObject {
    /// `hidden` holds `positions.count` rows of the target's hidden size, for `positions` of the
    /// request, whose known tokens are `tokenIds` (so the token after each position is known).
    func observe(requestId: String, positions: Range<Int>, tokenIds: [Int], hidden: UnsafePointer<Float>)
}
