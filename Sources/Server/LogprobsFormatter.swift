import Engine
import Tokenization

/// Log-probabilities in the two shapes OpenAI uses: the completions API's parallel arrays
/// (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`) and the chat API's `content`
/// list of `{token, logprob, bytes, top_logprobs}`.
struct LogprobsFormatter: Sendable {
    let tokenizer: Tokenizer

    func tokenText(_ id: Int) -> String { tokenizer.decode([id]) }

    /// The completions API's arrays for `entries` (nil entries — the first prompt token — have
    /// null log-probabilities), with text offsets counted from `offset`.
    func completionLogprobs(_ entries: [TokenLogprobs?], tokenIds: [Int], offset: inout Int) -> JSON {
        var tokens: [JSON] = [], logprobs: [JSON] = [], tops: [JSON] = [], offsets: [JSON] = []
        for (entry, id) in zip(entries, tokenIds) {
            let text = tokenText(id)
            tokens.append(.string(text))
            offsets.append(.int(offset))
            offset += text.count
            guard let entry else {
                logprobs.append(.null)
                tops.append(.null)
                continue
            }
            logprobs.append(.logprob(entry.logprob))
            var seen: Set<String> = []
            var top: [(String, JSON)] = []
            for alternative in entry.top where seen.insert(tokenText(alternative.tokenId)).inserted {
                top.append((tokenText(alternative.tokenId), .logprob(alternative.logprob)))
            }
            if seen.insert(text).inserted { top.append((text, .logprob(entry.logprob))) }
            tops.append(.object(top))
        }
        return ["tokens": .array(tokens), "token_logprobs": .array(logprobs), "top_logprobs": .array(tops),
                "text_offset": .array(offsets)]
    }

    /// The chat API's `content` entries for generated tokens, with `topN` alternatives each.
    func chatLogprobs(_ entries: [TokenLogprobs], topN: Int) -> [JSON] {
        entries.map { entry in
            var item = tokenJSON(entry.tokenId, entry.logprob)
            let top = entry.top.prefix(topN).map { tokenJSON($0.tokenId, $0.logprob) }
            if case .object(var pairs) = item {
                pairs.append(("top_logprobs", .array(Array(top))))
                item = .object(pairs)
            }
            return item
        }
    }

    private func tokenJSON(_ id: Int, _ logprob: Float) -> JSON {
        ["token": .string(tokenText(id)), "logprob": .logprob(logprob),
         "bytes": .array(tokenizer.tokenPiece(id).map { .int(Int($0)) })]
    }
}
