import Foundation

/// Expert-parallel load balancing of an MoE model in the engine (vLLM's `--enable-eplb` and
/// `--eplb-config`): the router's counts over a window of steps, and every `stepInterval` steps
/// a new placement of `numRedundantExperts` extra replicas over `numRanks` ranks.
public struct EPLBConfig: Sendable, Equatable {
    /// Steps of routing counts the balancer looks at (`window_size`).
    public var windowSize = 1000
    /// Steps between rebalances (`step_interval`).
    public var stepInterval = 3000
    /// Extra physical expert slots per layer (`num_redundant_experts`).
    public var numRedundantExperts = 0
    /// Write each rebalance's balancedness to standard error (`log_balancedness`).
    public var logBalancedness = false
    /// Ranks the slots are spread over (`num_ranks`): simulated on one process, where every
    /// replica shares the same weights; balancedness is measured over them. With expert workers,
    /// their count (and this must be 1 or equal it).
    public var numRanks = 1
    /// Nodes the ranks are grouped into (`num_nodes`) and groups of consecutive experts
    /// (`num_groups`): the hierarchical policy keeps a group on one node when the groups divide
    /// over the nodes, the global one runs otherwise (DeepSeek's EPLB).
    public var numNodes = 1
    public var numGroups = 1
    /// With expert workers: when one dies, place its experts on the live ones (a new placement
    /// over the live ranks' slots, loaded and switched in like a rebalance) instead of failing
    /// every step that routes a token to it (`replace_dead_ranks`).
    public var replaceDeadRanks = false

    public init(windowSize: Int = 1000, stepInterval: Int = 3000, numRedundantExperts: Int = 0, logBalancedness: Bool = false,
                numRanks: Int = 1, numNodes: Int = 1, numGroups: Int = 1, replaceDeadRanks: Bool = false) {
        self.windowSize = windowSize
        self.stepInterval = stepInterval
        self.numRedundantExperts = numRedundantExperts
        self.logBalancedness = logBalancedness
        self.numRanks = numRanks
        self.numNodes = numNodes
        self.numGroups = numGroups
        self.replaceDeadRanks = replaceDeadRanks
    }

    /// Parses vLLM's JSON form, `{"window_size":N,"step_interval":M,"num_redundant_experts":R,
    /// "log_balancedness":true,"num_ranks":P,"num_nodes":N,"num_groups":G,"replace_dead_ranks":true}`;
    /// every key is optional, an unknown key is an error.
    public init(json: String) throws(EngineConfigError) {
        let data = Data(json.utf8)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalid("--eplb-config must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !Fields.known.contains($0) }) {
            throw .invalid("unknown eplb config key '\(unknown)' (known: \(Fields.known.joined(separator: ", ")))")
        }
        let fields: Fields
        do { fields = try JSONDecoder().decode(Fields.self, from: data) } catch {
            throw .invalid("--eplb-config: integers for window_size, step_interval, num_redundant_experts, num_ranks, num_nodes and num_groups, bools for log_balancedness and replace_dead_ranks")
        }
        self.init(windowSize: fields.window_size ?? 1000, stepInterval: fields.step_interval ?? 3000,
                  numRedundantExperts: fields.num_redundant_experts ?? 0, logBalancedness: fields.log_balancedness ?? false,
                  numRanks: fields.num_ranks ?? 1, numNodes: fields.num_nodes ?? 1, numGroups: fields.num_groups ?? 1,
                  replaceDeadRanks: fields.replace_dead_ranks ?? false)
        try validate()
    }

    /// The JSON form's keys, as vLLM spells them.
    private struct Fields: Decodable {
        static let known = ["log_balancedness", "num_groups", "num_nodes", "num_ranks", "num_redundant_experts", "replace_dead_ranks",
                            "step_interval", "window_size"]
        var window_size, step_interval, num_redundant_experts, num_ranks, num_nodes, num_groups: Int?
        var log_balancedness, replace_dead_ranks: Bool?
    }

    func validate() throws(EngineConfigError) {
        guard windowSize > 0, stepInterval > 0, numRanks > 0, numNodes > 0, numGroups > 0 else {
            throw .invalid("eplb window_size, step_interval, num_ranks, num_nodes and num_groups must be positive")
        }
        guard numRedundantExperts >= 0 else { throw .invalid("eplb num_redundant_experts must be ≥ 0") }
    }
}
