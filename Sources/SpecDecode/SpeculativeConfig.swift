import Foundation

/// Speculative decoding settings (vLLM's `--speculative-config` keys).
public struct SpeculativeConfig: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        /// Prompt lookup: the tokens that followed the latest earlier occurrence of the context's tail.
        case ngram
        /// Suffix decoding over the request and recent responses (Arctic Inference).
        case suffix
        /// A smaller model with the same vocabulary, run autoregressively.
        case draftModel = "draft_model"
        /// The target's own next-token-prediction layers (`nextn` tensors), run recursively.
        case mtp
    }

    public var method: Method
    /// Most draft tokens per request and step (`num_speculative_tokens`).
    public var numSpeculativeTokens: Int
    /// The draft model's GGUF path (`model`; draft_model only).
    public var model: String?
    /// Shortest and longest n-gram matched (`prompt_lookup_min`, `prompt_lookup_max`). One-token
    /// matches guess badly: on the code-edit workload, a minimum of 2 took acceptance from 40% to
    /// 51–57% and the speed-up from 1.08× to 1.14–1.19×.
    public var promptLookupMin = 2
    public var promptLookupMax = 5
    /// Suffix decoding (`suffix_decoding_*`): deepest tree path, responses kept in the global
    /// tree, draft length per matched token, and the least estimated probability of a drafted token.
    public var suffixMaxTreeDepth = 24
    /// (vLLM keeps 10,000; this trie costs about 0.4 KB per cached response token at depth 24, so 1,000 by default.)
    public var suffixMaxCachedRequests = 1_000
    public var suffixMaxSpecFactor: Float = 1
    /// 0.7, where vLLM and Arctic Inference take 0.1: on a GPU a draft token costs about 1% of a
    /// step, on this engine's CPUs about 30% (SmolLM2, 2 threads), so only the tokens the tree is
    /// sure of pay. Batch 1, against 0.1 with 8 tokens at most: acceptance 64% → 88%
    /// (long_document_quote) and 84% → 91% (quote_document); speed-ups 1.31-1.55× → 1.85-2.05×,
    /// 1.65× → 1.77×, and 1.74-1.82× → 2.02-2.06× (whole_file_edit). A replay of the workloads'
    /// greedy outputs put 0.6-0.9 level with each other and 0.1-0.3 behind.
    public var suffixMinTokenProbability: Float = 0.7
    /// Let the engine shorten drafts per request, and skip them, when they do not pay (on by default).
    public var adaptive = true

    public init(method: Method, numSpeculativeTokens: Int? = nil, model: String? = nil) {
        self.method = method
        self.numSpeculativeTokens = numSpeculativeTokens ?? (method == .suffix ? 16 : 5)
        self.model = model
    }

    /// Parses `{"method":"ngram","num_speculative_tokens":5,...}`; an unknown key or a bad value
    /// is an error that names it.
    public init(json: String) throws(SpeculativeConfigError) {
        let data = Data(json.utf8)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalid("--speculative-config must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !Fields.known.contains($0) }) {
            throw .invalid("unknown speculative config key '\(unknown)' (known: \(Fields.known.joined(separator: ", ")))")
        }
        let f: Fields
        do { f = try JSONDecoder().decode(Fields.self, from: data) } catch {
            throw .invalid("--speculative-config: a string for method and model, integers for num_speculative_tokens, prompt_lookup_min/max, suffix_decoding_max_tree_depth and suffix_decoding_max_cached_requests, numbers for suffix_decoding_max_spec_factor and suffix_decoding_min_token_prob, a bool for adaptive")
        }
        guard let name = f.method else { throw .invalid("--speculative-config needs a method (\(Method.allCases.map(\.rawValue).joined(separator: ", ")))") }
        guard let method = Method(rawValue: name) else {
            throw .invalid("unknown speculative method '\(name)' (known: \(Method.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.init(method: method, numSpeculativeTokens: f.num_speculative_tokens, model: f.model)
        promptLookupMin = f.prompt_lookup_min ?? promptLookupMin
        promptLookupMax = f.prompt_lookup_max ?? max(promptLookupMax, promptLookupMin)
        suffixMaxTreeDepth = f.suffix_decoding_max_tree_depth ?? suffixMaxTreeDepth
        suffixMaxCachedRequests = f.suffix_decoding_max_cached_requests ?? suffixMaxCachedRequests
        suffixMaxSpecFactor = f.suffix_decoding_max_spec_factor ?? suffixMaxSpecFactor
        suffixMinTokenProbability = f.suffix_decoding_min_token_prob ?? suffixMinTokenProbability
        adaptive = f.adaptive ?? adaptive
        try validate()
    }

    private struct Fields: Decodable {
        static let known = ["adaptive", "method", "model", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min",
                            "suffix_decoding_max_cached_requests", "suffix_decoding_max_spec_factor",
                            "suffix_decoding_max_tree_depth", "suffix_decoding_min_token_prob"]
        var method, model: String?
        var num_speculative_tokens, prompt_lookup_min, prompt_lookup_max: Int?
        var suffix_decoding_max_tree_depth, suffix_decoding_max_cached_requests: Int?
        var suffix_decoding_max_spec_factor, suffix_decoding_min_token_prob: Float?
        var adaptive: Bool?
    }

    public func validate() throws(SpeculativeConfigError) {
        guard (1...64).contains(numSpeculativeTokens) else { throw .invalid("num_speculative_tokens must be 1 to 64") }
        guard promptLookupMin >= 1, promptLookupMax >= promptLookupMin else {
            throw .invalid("prompt_lookup_min must be ≥ 1 and prompt_lookup_max ≥ prompt_lookup_min")
        }
        guard suffixMaxTreeDepth >= 1, suffixMaxCachedRequests >= 0, suffixMaxSpecFactor > 0,
              (0...1).contains(suffixMinTokenProbability) else {
            throw .invalid("suffix_decoding_max_tree_depth ≥ 1, max_cached_requests ≥ 0, max_spec_factor > 0, min_token_prob in [0, 1]")
        }
        if method == .draftModel && model == nil { throw .invalid("the draft_model method needs \"model\": a GGUF path") }
        if method != .draftModel && model != nil { throw .invalid("\"model\" is only for the draft_model method") }
    }
}

public enum SpeculativeConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// The draft model cannot serve this target (its vocabulary differs, or it failed to load).
    case incompatibleDraft(String)
    /// The target model has no next-token-prediction layers for the mtp method.
    case noMTPLayers(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .incompatibleDraft(let why): "draft model: \(why)"
        case .noMTPLayers(let arch): "the mtp method needs next-token-prediction (nextn) layers; this \(arch) model has none"
        }
    }
}
