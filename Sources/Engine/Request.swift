import Foundation
import StructuredOutput

/// A request as the engine core tracks it (vLLM's `Request`): its tokens, how many have been
/// computed into the KV cache, its block hashes and its own random generator.
public final class Request {
    public let requestId: String
    public let promptTokenIds: [Int]
    public private(set) var outputTokenIds: [Int] = []
    /// Prompt followed by output.
    public private(set) var allTokenIds: [Int]
    public let samplingParams: SamplingParams
    public let priority: Int
    public let arrivalTime: Double
    public let eosTokenIds: Set<Int>
    public let maxModelLength: Int
    public internal(set) var status = RequestStatus.waiting
    public internal(set) var stopReason: StopReason?
    /// Tokens whose K/V are in the cache (or scheduled to be, this step).
    public internal(set) var numComputedTokens = 0
    /// Prompt tokens served from the prefix cache when the request was first scheduled (-1: not yet).
    public internal(set) var numCachedTokens = -1
    public internal(set) var numPreemptions = 0
    /// Hashes of the full blocks of `allTokenIds`.
    public internal(set) var blockHashes: [BlockHash] = []
    /// Block ids of the request's KV, one table per KV cache group, in position order (-1 where a
    /// sliding-window group freed a block or never needed it).
    public internal(set) var blockIds: [[Int32]] = []
    var rng: RandomGenerator
    let blockSize: Int
    /// How often each output token appeared (kept only for a request with penalties).
    var outputTokenCounts: [Int: Int] = [:]
    /// Draft tokens to verify in the next step (speculative decoding), and the draft's
    /// probabilities for them where the proposer has them.
    public internal(set) var specTokenIds: [Int] = []
    var specProbabilities: [[Float]]?
    /// Follows the output through the request's grammar (structured output); nil without one.
    /// It survives preemption: recomputing the KV cache does not resample tokens.
    public internal(set) var grammarMatcher: GrammarMatcher?
    /// How well this request's drafts have fared (speculative decoding's adaptive length).
    var draftAcceptance = DraftAcceptance()
    /// Times for metrics (seconds since the reference date).
    public internal(set) var firstScheduledTime: Double?
    public internal(set) var firstTokenTime: Double?
    public internal(set) var lastTokenTime: Double?

    public init(requestId: String, promptTokenIds: [Int], samplingParams: SamplingParams, eosTokenIds: Set<Int>,
                maxModelLength: Int, blockSize: Int, priority: Int = 0, arrivalTime: Double = Date().timeIntervalSinceReferenceDate) {
        self.requestId = requestId
        self.promptTokenIds = promptTokenIds
        self.allTokenIds = promptTokenIds
        self.samplingParams = samplingParams
        self.priority = priority
        self.arrivalTime = arrivalTime
        self.eosTokenIds = eosTokenIds
        self.maxModelLength = maxModelLength
        self.blockSize = blockSize
        rng = RandomGenerator(seed: samplingParams.seed ?? UInt64.random(in: 0...UInt64.max))
        // The token lists and block hashes grow without reallocating for the usual lengths.
        let expected = min(samplingParams.maxTokens ?? 256, 4096)
        allTokenIds.reserveCapacity(promptTokenIds.count + expected)
        outputTokenIds.reserveCapacity(expected)
        blockHashes.reserveCapacity(allTokenIds.capacity / blockSize + 1)
        updateBlockHashes()
    }

    public var numTokens: Int { allTokenIds.count }
    public var numPromptTokens: Int { promptTokenIds.count }
    public var numOutputTokens: Int { outputTokenIds.count }
    public var isFinished: Bool { status.isFinished }

    /// Most tokens this request may generate.
    public var maxTokens: Int {
        min(samplingParams.maxTokens ?? Int.max, maxModelLength - numPromptTokens)
    }

    func appendOutputToken(_ id: Int) {
        outputTokenIds.append(id)
        allTokenIds.append(id)
        if samplingParams.hasPenalties { outputTokenCounts[id, default: 0] += 1 }
        updateBlockHashes()
    }

    /// Hashes every newly completed full block.
    private func updateBlockHashes() {
        while (blockHashes.count + 1) * blockSize <= allTokenIds.count {
            let start = blockHashes.count * blockSize
            blockHashes.append(BlockHash(parent: blockHashes.last, tokens: allTokenIds[start..<(start + blockSize)]))
        }
    }
}
