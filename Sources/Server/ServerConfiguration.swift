import KVTransfer

/// How `peregrine serve` listens and what it accepts.
public struct ServerConfiguration: Sendable {
    /// Address to bind; 127.0.0.1 keeps the server local.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one.
    public var port = 8000
    /// When set, `/v1/…` requests must carry `Authorization: Bearer <apiKey>`.
    public var apiKey: String?
    /// The name clients pass as `model` (and `/v1/models` lists).
    public var servedModelName = "peregrine"
    /// Largest request body accepted (413 beyond).
    public var maxRequestBodySize = 4 << 20
    /// Most sequences the engine runs at once (its `max_num_seqs`); with ``maxWaitingRequests``
    /// it bounds the requests in flight.
    public var maxNumSeqs = 64
    /// Most sequences waiting for a slot beyond ``maxNumSeqs``; more are answered 503.
    public var maxWaitingRequests = 256
    /// Most completions per request (`n`).
    public var maxN = 16
    /// Most alternatives per token (`logprobs`, `top_logprobs`).
    public var maxLogprobs = 20
    /// A Jinja chat template to use instead of the model's.
    public var chatTemplate: String?
    /// On SIGINT/SIGTERM, how long running requests may take to finish before they are aborted.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Longest a completion request may run; past it, it is aborted (408, or an error event
    /// ending the stream). Nil: no limit.
    public var requestTimeout: Duration?
    /// Most connections open at once; a request on one more gets 503 and the connection closes.
    public var maxConnections = 1024
    /// Time a connection has to deliver the whole head of a request, from its opening or the end
    /// of its previous response (closes slow-header and idle keep-alive connections).
    public var requestHeadTimeout: Duration = .seconds(10)
    /// How `tool_choice: auto` output is read into tool calls (vLLM's `--tool-call-parser`:
    /// hermes, qwen, llama3_json, mistral).
    public var toolCallParser = "hermes"
    /// The engine's KV connector role and the address its consumer listens on (disaggregated
    /// serving): requests' `kv_transfer_params` are checked against it, and `/kv_transfer_info`
    /// tells a proxy where to send a decode instance's KV.
    public var kvTransfer: KVTransferInfo?

    public init(host: String = "127.0.0.1", port: Int = 8000, apiKey: String? = nil, servedModelName: String = "peregrine",
                maxRequestBodySize: Int = 4 << 20, maxNumSeqs: Int = 64, maxWaitingRequests: Int = 256, maxN: Int = 16,
                maxLogprobs: Int = 20, chatTemplate: String? = nil, shutdownGracePeriod: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.servedModelName = servedModelName
        self.maxRequestBodySize = maxRequestBodySize
        self.maxNumSeqs = maxNumSeqs
        self.maxWaitingRequests = maxWaitingRequests
        self.maxN = maxN
        self.maxLogprobs = maxLogprobs
        self.chatTemplate = chatTemplate
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// Sequences (counting each of `n` completions) allowed in flight at once.
    var maxSequencesInFlight: Int { maxNumSeqs + maxWaitingRequests }
}

/// What `/kv_transfer_info` reports.
public struct KVTransferInfo: Sendable, Equatable {
    public var connector: String
    public var role: KVTransferConfig.Role
    /// Where the consumer listens for KV (nil for a producer).
    public var host: String?
    public var port: Int?

    public init(connector: String, role: KVTransferConfig.Role, host: String? = nil, port: Int? = nil) {
        self.connector = connector
        self.role = role
        self.host = host
        self.port = port
    }
}
