/// The body of `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable, Sendable {
    var model: String?
    var messages: [ChatMessageField]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var logprobs: Bool?
    var topLogprobs: Int?
    var addGenerationPrompt: Bool?
    var tools: [ChatToolField]?
    var toolChoice: ToolChoiceField?
    var parallelToolCalls: Bool?
    var sampling: SamplingFields
    var structured: StructuredOutputFields

    enum CodingKeys: String, CodingKey {
        case model, messages, logprobs, tools
        case toolChoice = "tool_choice", parallelToolCalls = "parallel_tool_calls"
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topLogprobs = "top_logprobs"
        case addGenerationPrompt = "add_generation_prompt"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        messages = try c.decode([ChatMessageField].self, forKey: .messages)
        maxTokens = try c.decodeInteger(.maxTokens)
        maxCompletionTokens = try c.decodeInteger(.maxCompletionTokens)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeInteger(.topLogprobs)
        addGenerationPrompt = try c.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt)
        tools = try c.decodeIfPresent([ChatToolField].self, forKey: .tools)
        toolChoice = try c.decodeIfPresent(ToolChoiceField.self, forKey: .toolChoice)
        parallelToolCalls = try c.decodeIfPresent(Bool.self, forKey: .parallelToolCalls)
        sampling = try SamplingFields(from: decoder)
        structured = try StructuredOutputFields(from: decoder)
    }
}

/// One message of `messages`: a role and text content (a string, or text parts), and for
/// tool use the assistant's `tool_calls` or the `tool_call_id` a tool result answers.
struct ChatMessageField: Decodable, Sendable {
    var role: String
    var content: String
    var toolCalls: [ToolCallField]
    var toolCallId: String?
    var name: String?

    struct ToolCallField: Decodable, Sendable {
        struct Function: Decodable, Sendable {
            var name: String
            var arguments: String
        }
        var id: String?
        var type: String?
        var function: Function
    }

    enum CodingKeys: String, CodingKey { case role, content, name, toolCalls = "tool_calls", toolCallId = "tool_call_id" }

    private struct Part: Decodable {
        var type: String
        var text: String?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(String.self, forKey: .role)
        toolCalls = try c.decodeIfPresent([ToolCallField].self, forKey: .toolCalls) ?? []
        toolCallId = try c.decodeIfPresent(String.self, forKey: .toolCallId)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        if try !c.contains(.content) || c.decodeNil(forKey: .content) {
            content = ""
        } else if let text = try? c.decode(String.self, forKey: .content) {
            content = text
        } else if let parts = try? c.decode([Part].self, forKey: .content) {
            var texts: [String] = []
            for part in parts {
                guard part.type == "text", let text = part.text else {
                    throw DecodingError.dataCorrupted(.init(
                        codingPath: c.codingPath + [CodingKeys.content],
                        debugDescription: "only text content parts are supported, got a '\(part.type)' part"))
                }
                texts.append(text)
            }
            content = texts.joined(separator: "\n")
        } else {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: c.codingPath + [CodingKeys.content],
                debugDescription: "expected a string or an array of text parts"))
        }
    }
}
