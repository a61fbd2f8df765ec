@testable import Models
import Testing

struct AttentionPlanTests {
    /// A KV head's query heads are split only until every thread has an item, and only into
    /// parts of equal size.
    @Test func queryHeadsSplitOnlyUntilEveryThreadHasAnItem() {
        // SmolLM2 (3 KV heads of 3 query heads): one sequence's decode gives 3 items already.
        #expect(AttentionPlan.headSplit(items: 3, groupSize: 3, threads: 2) == 1)
        #expect(AttentionPlan.headSplit(items: 3, groupSize: 3, threads: 4) == 3)
        // Gemma 3 (1 KV head of 4): halves for 2 threads, quarters for more.
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 4, threads: 2) == 2)
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 4, threads: 3) == 4)
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 4, threads: 16) == 4)
        // 6 heads a group, 1 item, 4 threads: 6 parts (4 would not divide the group).
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 6, threads: 4) == 6)
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 6, threads: 3) == 3)
        // Multi-query with one head a group cannot split.
        #expect(AttentionPlan.headSplit(items: 1, groupSize: 1, threads: 2) == 1)
    }
}
