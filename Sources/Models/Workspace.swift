import Kernels

/// The scratch memory of forward passes: activations sized for the largest batch seen so far,
/// quantized-activation scratch, and the logits. Each caller that runs the model (a model runner,
/// an evaluator) owns one, so one model can serve several callers.
public final class ForwardWorkspace: @unchecked Sendable {
    var buffers = Workspace()
    let scratch = MatMulScratch()
    let attention = AttentionPlan()
    let tokenSteps = TokenSteps()
    let experts = ExpertWorkspace()
    /// Rows of `buffers.hiddenStates` the last forward pass wrote.
    var hiddenStateCount = 0
    /// Told before and after each decoder layer of a forward pass (a KV connector waits for a
    /// layer's loads and sends its new blocks there); nil: no calls.
    public var layerHooks: (any ForwardLayerHooks)?
    /// The two micro-batches of an expert-parallel model's overlapped pass, made at first use.
    lazy var microBatches = MicroBatches()

    public init() {}

    /// The final hidden state (after the output norm: what the LM head reads) of every token of the
    /// last forward pass, `count × hiddenSize` row-major; empty unless the model has a
    /// ``NextTokenPredictor`` (or this workspace is the predictor's own). Valid until the next use
    /// of the workspace.
    public var lastHiddenStates: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffers.hiddenStates, count: hiddenStateCount)
    }
}

/// Activation buffers of a forward pass, sized for the largest batch seen so far and reused.
struct Workspace {
    private(set) var tokenCapacity = 0
    private(set) var logitCapacity = 0
    var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var normed = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var q = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var k = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var attention = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var projected = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    var logits = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Every token's final hidden state (`tokens × hiddenSize`), kept only for models with
    /// nextn layers, and the predictor's concatenated inputs (`tokens × 2·hiddenSize`).
    private(set) var hiddenStateCapacity = 0
    var hiddenStates = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var predictorInputCapacity = 0
    var predictorInputs = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Outputs of the fused Q/K/V and gate/up products (kept, so a step builds no arrays).
    private(set) var qkvOutputs: [UnsafeMutablePointer<Float>] = []
    private(set) var gateUpOutputs: [UnsafeMutablePointer<Float>] = []
    private(set) var projectedOutputs: [UnsafeMutablePointer<Float>] = []

    /// Grows the buffers for `tokens` tokens and `count` logit rows; with `hiddenStates`, the
    /// buffer of final hidden states too, and with `predictorInputs` that of a
    /// ``NextTokenPredictor``'s inputs.
    mutating func reserve(tokens: Int, logits count: Int, config c: ModelConfig, hiddenStates keepsHidden: Bool = false,
                          predictorInputs: Bool = false) {
        if keepsHidden, tokens > hiddenStateCapacity {
            hiddenStateCapacity = max(tokens, 2 * hiddenStateCapacity)
            hiddenStates.deallocate()
            hiddenStates = .allocate(capacity: hiddenStateCapacity * c.hiddenSize)
        }
        if predictorInputs, tokens > predictorInputCapacity {
            predictorInputCapacity = max(tokens, 2 * predictorInputCapacity)
            self.predictorInputs.deallocate()
            self.predictorInputs = .allocate(capacity: predictorInputCapacity * 2 * c.hiddenSize)
        }
        if tokens > tokenCapacity {
            let n = max(tokens, 2 * tokenCapacity)
            func grow(_ p: inout UnsafeMutablePointer<Float>, _ width: Int) {
                p.deallocate()
                p = .allocate(capacity: n * width)
            }
            grow(&hidden, c.hiddenSize)
            grow(&normed, max(c.hiddenSize, c.qDim))
            grow(&q, c.qDim)
            grow(&k, c.kvDim)
            grow(&v, c.kvDim)
            grow(&attention, c.qDim)
            grow(&projected, c.hiddenSize)
            grow(&gate, c.intermediateSize)
            grow(&up, c.intermediateSize)
            tokenCapacity = n
            qkvOutputs = [q, k, v]
            gateUpOutputs = [gate, up]
            projectedOutputs = [projected]
        }
        if count > logitCapacity {
            logits.deallocate()
            logits = .allocate(capacity: count * c.vocabSize)
            logitCapacity = count
        }
    }
}

/// Calls around each decoder layer of a forward pass, in layer order, on the forward pass's thread.
public protocol ForwardLayerHooks: AnyObject {
    /// Layer `layer` is about to read the KV cache.
    func willCompute(layer: Int)
    /// Layer `layer` has written its keys and values for every token of the batch.
    func didCompute(layer: Int)
}
