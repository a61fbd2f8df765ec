/// `GET /openapi.json`: an OpenAPI 3.1 description of every route, its request and response
/// bodies (the streaming chunks among them) and the error object, for generated clients and
/// API fuzzers. `OpenAPIDocumentTests` checks that every route the router serves is in it.
enum OpenAPIDocument {
    /// The document for a server of `servedModelName`: token ids are below `vocabSize`, and
    /// `max_tokens` at most `maxModelLength` (the prompt shares that length too).
    static func make(servedModelName: String, vocabSize: Int, maxModelLength: Int, version: String = "0.1.0") -> JSON {
        let limits = Limits(vocabSize: vocabSize, maxModelLength: maxModelLength)
        return [
            "openapi": "3.1.0",
            "info": ["title": "Peregrine OpenAI-compatible API", "version": .string(version),
                     "description": .string("Serving \(servedModelName). Errors are OpenAI's error object.")],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas(limits)),
                           "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]]],
        ]
    }

    // MARK: - Paths

    private static var paths: [(String, JSON)] {
        [
            ("/v1/completions", ["post": operation(
                "createCompletion", "Text completion of one or more prompts (set stream for server-sent events).",
                request: "CompletionRequest", ok: okBody("Completion", stream: "CompletionChunk"), secured: true,
                errors: [400, 401, 404, 408, 413, 503])]),
            ("/v1/chat/completions", ["post": operation(
                "createChatCompletion", "Chat completion with the model's chat template (set stream for server-sent events).",
                request: "ChatCompletionRequest", ok: okBody("ChatCompletion", stream: "ChatCompletionChunk"), secured: true,
                errors: [400, 401, 404, 408, 413, 503])]),
            ("/v1/models", ["get": operation("listModels", "The served model.", ok: okBody("ModelList"), secured: true, errors: [401])]),
            ("/v1/eplb/load", ["get": operation(
                "getExpertLoad", "Tokens routed to each expert of each MoE layer over the recording window (`peregrine eplb --load` reads it).",
                ok: okBody("ExpertLoad"), secured: true, errors: [401, 404])]),
            ("/v1/eplb/placement", ["get": operation(
                "getExpertPlacement", "The expert placement in force, what the expert workers hold (`peregrine eplb --placement` reads it), with its balancedness on the recorded load.",
                ok: okBody("ExpertPlacement"), secured: true, errors: [401, 404])]),
            ("/tokenize", ["post": operation("tokenize", "Token ids of a text or of chat messages.",
                                             request: "TokenizeRequest", ok: okBody("TokenizeResponse"), errors: [400, 404, 413])]),
            ("/detokenize", ["post": operation("detokenize", "The text of token ids.",
                                               request: "DetokenizeRequest", ok: okBody("DetokenizeResponse"), errors: [400, 404, 413])]),
            ("/", ["get": operation("chatPage", "The chat page (HTML, self-contained).",
                                    ok: ["description": "HTML", "content": ["text/html": ["schema": ["type": "string"]]]])]),
            ("/health", ["get": operation("health", "200 while serving, 503 while shutting down or while an expert worker is down (`degraded`).", ok: okBody("Health"), errors: [503],
                                          errorSchema: "Health")]),
            ("/kv_transfer_info", ["get": operation(
                "getKVTransferInfo", "The KV connector, its role and where it takes KV (disaggregated serving; 404 without --kv-transfer-config).",
                ok: okBody("KVTransferInfo"), errors: [404])]),
            ("/metrics", ["get": operation("metrics", "Prometheus metrics (vLLM's names, prefix peregrine:).",
                                           ok: ["description": "Prometheus text exposition",
                                                "content": ["text/plain": ["schema": ["type": "string"]]]])]),
            ("/openapi.json", ["get": operation("openapi", "This document.",
                                                ok: ["description": "OpenAPI 3.1", "content": ["application/json": ["schema": ["type": "object"]]]])]),
        ]
    }

    private static func operation(_ id: String, _ summary: String, request: String? = nil, ok: JSON, secured: Bool = false,
                                  errors: [Int] = [], errorSchema: String = "ErrorResponse") -> JSON {
        var op: [(String, JSON)] = [("operationId", .string(id)), ("summary", .string(summary))]
        if let request {
            op.append(("requestBody", ["required": true, "content": ["application/json": ["schema": ref(request)]]]))
        }
        var responses: [(String, JSON)] = [("200", ok)]
        for code in errors {
            responses.append((String(code), ["description": .string(errorDescriptions[code] ?? "Error"),
                                             "content": ["application/json": ["schema": ref(errorSchema)]]]))
        }
        op.append(("responses", .object(responses)))
        if secured { op.append(("security", [[:], ["bearer": []]])) }  // the key is needed only when the server has one
        return .object(op)
    }

    private static let errorDescriptions: [Int: String] = [
        400: "Invalid request (the field at fault in error.param)", 401: "Missing or wrong API key",
        404: "Unknown model, or no such resource", 408: "Ran past the server's --request-timeout", 413: "Body too large",
        503: "Too many requests waiting, or shutting down",
    ]

    private static func okBody(_ schema: String, stream: String? = nil) -> JSON {
        var content: [(String, JSON)] = [("application/json", ["schema": ref(schema)])]
        if let stream {
            content.append(("text/event-stream", [
                // Each event as an SSE parser sees it (schemathesis checks every event against this).
                "schema": ["type": "object", "description": .string("Server-sent events, each `data: <\(stream)>`, ending with `data: [DONE]`."),
                           "properties": ["data": ["type": "string"], "event": ["type": "string"], "id": ["type": "string"],
                                          "retry": ["type": "integer"]],
                           "required": ["data"]],
                "x-event-schema": ref(stream),
            ]))
        }
        return ["description": "OK", "content": .object(content)]
    }

    private static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }

    // MARK: - Schemas

    private static func object(_ properties: [(String, JSON)], required: [String] = [], closed: Bool = false) -> JSON {
        var o: [(String, JSON)] = [("type", "object"), ("properties", .object(properties))]
        if !required.isEmpty { o.append(("required", .array(required.map { .string($0) }))) }
        if closed { o.append(("additionalProperties", false)) }
        return .object(o)
    }

    private static func objectPairs(_ value: JSON) -> [(String, JSON)] {
        if case .object(let pairs) = value { return pairs }
        return []
    }

    private static func nullable(_ type: String) -> JSON { ["type": [.string(type), "null"]] }
    private static let integer: JSON = ["type": "integer"]
    private static let number: JSON = ["type": "number"]
    private static let string: JSON = ["type": "string"]
    private static let boolean: JSON = ["type": "boolean"]
    private static func array(_ items: JSON) -> JSON { ["type": "array", "items": items] }
    private static func oneOf(_ options: JSON...) -> JSON { ["oneOf": .array(options)] }

    /// Sampling fields both completion requests take (OpenAI's and vLLM's names).
    private static var samplingProperties: [(String, JSON)] {
        [
            ("n", ["type": "integer", "minimum": 1, "maximum": 16]),
            ("temperature", ["type": "number", "minimum": 0]), ("top_p", ["type": "number", "exclusiveMinimum": 0, "maximum": 1]),
            ("top_k", ["type": "integer", "minimum": -1]), ("min_p", ["type": "number", "minimum": 0, "maximum": 1]),
            ("presence_penalty", ["type": "number", "minimum": -2, "maximum": 2]),
            ("frequency_penalty", ["type": "number", "minimum": -2, "maximum": 2]),
            ("repetition_penalty", ["type": "number", "exclusiveMinimum": 0]),
            ("logit_bias", ["type": "object", "additionalProperties": ["type": "number", "minimum": -100, "maximum": 100]]),
            ("seed", integer), ("stop", oneOf(string, array(string), ["type": "null"])), ("stop_token_ids", array(integer)),
            ("ignore_eos", boolean), ("min_tokens", ["type": "integer", "minimum": 0]), ("include_stop_str_in_output", boolean),
            ("skip_special_tokens", boolean), ("stream", boolean),
            ("stream_options", object([("include_usage", boolean)])), ("user", string),
        ]
    }

    private static let usage = object([("prompt_tokens", integer), ("completion_tokens", integer), ("total_tokens", integer),
                                       ("prompt_tokens_details", object([("cached_tokens", integer)]))],
                                      required: ["prompt_tokens", "completion_tokens", "total_tokens"])
    private static let finishReason: JSON = ["type": ["string", "null"], "enum": ["stop", "length", "abort", "tool_calls", nil]]

    /// vLLM's output constraints (exactly one key), on both completion requests.
    private static let kvTransferParams = object([("do_remote_decode", boolean), ("do_remote_prefill", boolean),
                                                  ("remote_request_id", string), ("remote_host", string),
                                                  ("remote_port", ["type": "integer", "minimum": 1, "maximum": 65535])])
    private static let structuredOutputs = object([("json", ["type": ["object", "boolean", "string"]]), ("regex", string),
                                                    ("choice", ["type": "array", "items": string, "minItems": 1]),
                                                    ("grammar", string), ("json_object", boolean)])
    private static let toolCall = object([("id", string), ("type", ["const": "function"]),
                                          ("function", object([("name", string), ("arguments", string)], required: ["name", "arguments"]))],
                                         required: ["function"])
    private static let tokenLogprob = object([("token", string), ("logprob", number), ("bytes", nullable("array")),
                                              ("top_logprobs", array(["type": "object"]))], required: ["token", "logprob"])

    private struct Limits {
        let vocabSize: Int
        let maxModelLength: Int
        var tokenId: JSON { ["type": "integer", "minimum": 0, "maximum": .int(vocabSize - 1)] }
        var maxTokens: JSON { ["type": ["integer", "null"], "minimum": 1, "maximum": .int(maxModelLength)] }
    }

    private static func schemas(_ limits: Limits) -> [(String, JSON)] {
        let text: JSON = ["type": "string", "minLength": 1]
        let prompt = oneOf(text, ["type": "array", "items": text, "minItems": 1],
                           ["type": "array", "items": limits.tokenId, "minItems": 1],
                           ["type": "array", "items": ["type": "array", "items": limits.tokenId, "minItems": 1], "minItems": 1])
        let contentPart = object([("type", ["const": "text"]), ("text", string)], required: ["type", "text"])
        let message = object([("role", ["type": "string", "enum": ["system", "user", "assistant", "developer", "tool"]]),
                              ("content", oneOf(string, array(contentPart), ["type": "null"])), ("name", string),
                              ("tool_calls", array(toolCall)), ("tool_call_id", string)],
                             required: ["role"])
        let tool = object([("type", ["const": "function"]),
                           ("function", object([("name", ["type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"]), ("description", string),
                                                ("parameters", ["type": "object"]), ("strict", boolean)], required: ["name"]))],
                          required: ["type", "function"])
        let toolChoice = oneOf(["type": "string", "enum": ["none", "auto", "required"]],
                               object([("type", ["const": "function"]), ("function", object([("name", string)], required: ["name"]))],
                                      required: ["type", "function"]))
        let responseFormat = object([("type", ["type": "string", "enum": ["text", "json_object", "json_schema"]]),
                                     ("json_schema", object([("name", string), ("description", string), ("schema", ["type": "object"]),
                                                             ("strict", nullable("boolean"))], required: ["name"]))],
                                    required: ["type"])
        let completionLogprobs = object([("tokens", array(string)), ("token_logprobs", array(number)),
                                         ("top_logprobs", array(["type": ["object", "null"]])), ("text_offset", array(integer))])
        let completionChoice = object([("index", integer), ("text", string), ("logprobs", oneOf(completionLogprobs, ["type": "null"])),
                                       ("finish_reason", finishReason), ("stop_reason", ["type": ["string", "integer", "null"]])],
                                      required: ["index", "text", "finish_reason"])
        let chatLogprobs = oneOf(object([("content", array(tokenLogprob))]), ["type": "null"])
        let chatChoice = object([("index", integer),
                                 ("message", object([("role", ["const": "assistant"]), ("content", nullable("string")),
                                                     ("tool_calls", array(toolCall))], required: ["role", "content"])),
                                 ("logprobs", chatLogprobs), ("finish_reason", finishReason),
                                 ("stop_reason", ["type": ["string", "integer", "null"]])],
                                required: ["index", "message", "finish_reason"])
        let chunkChoice = object([("index", integer), ("delta", object([("role", ["const": "assistant"]), ("content", string),
                                                                        ("tool_calls", array(["type": "object"]))])),
                                  ("logprobs", chatLogprobs), ("finish_reason", finishReason),
                                  ("stop_reason", ["type": ["string", "integer", "null"]])],
                                 required: ["index", "delta"])
        func envelope(_ kind: String, _ choice: JSON, usageRequired: Bool) -> JSON {
            object([("id", string), ("object", ["const": .string(kind)]), ("created", integer), ("model", string),
                    ("choices", array(choice)), ("usage", usageRequired ? ref("Usage") : oneOf(ref("Usage"), ["type": "null"]))],
                   required: ["id", "object", "created", "model", "choices"] + (usageRequired ? ["usage"] : []))
        }
        return [
            ("ErrorResponse", object([("error", object([("message", string), ("type", string), ("param", nullable("string")),
                                                         ("code", ["type": ["string", "integer", "null"]])],
                                                        required: ["message", "type"]))], required: ["error"])),
            ("CompletionRequest", object([("model", string), ("prompt", prompt), ("max_tokens", limits.maxTokens),
                                          ("echo", boolean), ("logprobs", ["type": ["integer", "null"], "minimum": 0, "maximum": 20]),
                                          ("best_of", ["type": ["integer", "null"], "minimum": 1]), ("suffix", nullable("string")),
                                          ("structured_outputs", structuredOutputs), ("kv_transfer_params", kvTransferParams)]
                                         + samplingProperties, required: ["prompt"])),
            ("ChatMessage", message),
            ("ChatCompletionRequest", object([("model", string), ("messages", ["type": "array", "items": ref("ChatMessage"), "minItems": 1]),
                                              ("max_tokens", limits.maxTokens), ("max_completion_tokens", limits.maxTokens),
                                              ("logprobs", boolean), ("top_logprobs", ["type": ["integer", "null"], "minimum": 0, "maximum": 20]),
                                              ("add_generation_prompt", boolean), ("response_format", responseFormat),
                                              ("structured_outputs", structuredOutputs), ("tools", array(tool)), ("tool_choice", toolChoice),
                                              ("parallel_tool_calls", boolean), ("kv_transfer_params", kvTransferParams)]
                                             + samplingProperties, required: ["messages"])),
            ("Usage", usage),
            ("Completion", envelope("text_completion", completionChoice, usageRequired: true)),
            ("CompletionChunk", envelope("text_completion", completionChoice, usageRequired: false)),
            ("ChatCompletion", envelope("chat.completion", chatChoice, usageRequired: true)),
            ("ChatCompletionChunk", envelope("chat.completion.chunk", chunkChoice, usageRequired: false)),
            ("ModelList", object([("object", ["const": "list"]),
                                  ("data", array(object([("id", string), ("object", ["const": "model"]), ("created", integer),
                                                         ("owned_by", string), ("root", string), ("parent", ["type": "null"]),
                                                         ("max_model_len", integer)], required: ["id", "object", "created", "owned_by"])))],
                                 required: ["object", "data"])),
            ("ExpertLoad", object([("model", string), ("num_physical_experts", string), ("num_ranks", string), ("rebalances", string),
                                   ("weight", array(array(number)))], required: ["weight"])),
            ("ExpertPlacement", object([("phy2log", array(array(integer))), ("log2phy", array(array(array(integer)))),
                                        ("logcnt", array(array(integer))), ("policy", string), ("num_replicas", integer),
                                        ("num_groups", integer), ("num_nodes", integer), ("num_gpus", integer),
                                        ("balancedness_before", number), ("balancedness_after", number),
                                        ("balancedness_per_layer_before", array(number)), ("balancedness_per_layer_after", array(number))],
                                       required: ["phy2log", "log2phy", "logcnt", "num_replicas", "num_gpus"])),
            ("TokenizeRequest", .object(
                [("anyOf", [["required": ["prompt"]], ["required": ["content"]], ["required": ["messages"]]])]
                    + objectPairs(object([("model", string), ("prompt", string), ("content", string),
                                          ("messages", ["type": "array", "items": ref("ChatMessage"), "minItems": 1]),
                                          ("add_special_tokens", boolean), ("add_generation_prompt", boolean), ("return_token_strs", boolean)])))),
            ("TokenizeResponse", object([("count", integer), ("max_model_len", integer), ("tokens", array(integer)),
                                         ("token_strs", array(string))], required: ["count", "max_model_len", "tokens"])),
            ("DetokenizeRequest", object([("model", string), ("tokens", array(limits.tokenId))], required: ["tokens"])),
            ("DetokenizeResponse", object([("prompt", string)], required: ["prompt"])),
            ("Health", object([("status", string), ("expert_workers_down", array(integer))], required: ["status"])),
            ("KVTransferInfo", object([("kv_connector", string), ("kv_role", string), ("kv_host", nullable("string")),
                                       ("kv_port", ["type": ["integer", "null"]])], required: ["kv_connector", "kv_role"])),
        ]
    }
}
