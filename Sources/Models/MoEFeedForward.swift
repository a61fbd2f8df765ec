import CKernels
import Foundation
import Kernels

/// A mixture-of-experts MLP (llama.cpp's `build_moe_ffn` with softmax gating): a router scores
/// the E experts for each token, the top k get the token, each runs its gated MLP on it, and the
/// outputs are summed, weighted by the router's probabilities (renormalized over the k when the
/// architecture says so), plus a shared expert behind a sigmoid gate where there is one.
///
/// The pass sorts the (token, expert) pairs by the physical slot ``ExpertRouter`` assigns, then
/// runs one grouped product per active slot over its tokens (``ExpertExecution``), here or on the
/// expert workers of the router's dispatcher, so decode reads only the chosen experts' weights. Each pair's output has
/// its own row, and each token sums its k rows in rank order: a token's result does not depend
/// on the other tokens of the batch or on which replica served it.
final class MoEFeedForward: @unchecked Sendable {
    let config: ExpertConfig
    /// Index among the model's MoE layers (the router's layer).
    let moeLayer: Int
    /// E × d: the router (`ffn_gate_inp`).
    let router: WeightMatrix
    /// One gated MLP per logical expert, slices of the 3-D `ffn_{gate,up,down}_exps` tensors;
    /// empty when the routed experts live on expert workers (the router's dispatcher).
    let experts: [ExpertMLP]
    /// Every expert matrix has the interleaved layout: activations go through 8-bit blocks and
    /// the grouped x8 products; otherwise each slot runs through `matmul` on floats.
    let interleaved: Bool
    let shared: SharedExpert?

    /// The shared expert of qwen2moe: a dense gated MLP scaled by sigmoid(`gateInput` · x).
    struct SharedExpert {
        let gateInput: [Float]
        let gateUp: [WeightMatrix]
        let down: WeightMatrix
    }

    /// - Parameter routedExperts: bind the routed experts here; false for the front of an
    ///   expert-parallel model, whose experts are on workers (their pages are never touched).
    init(prefix p: String, moeLayer: Int, config c: ModelConfig, experts e: ExpertConfig, loader: WeightLoader,
         routedExperts: Bool = true) throws(ModelError) {
        config = e
        self.moeLayer = moeLayer
        let d = c.hiddenSize, f = e.expertFeedForward
        router = try loader.matrix(p + "ffn_gate_inp.weight", rows: e.numExperts, columns: d)
        if routedExperts {
            let gate = try loader.experts(p + "ffn_gate_exps.weight", count: e.numExperts, rows: f, columns: d)
            let up = try loader.experts(p + "ffn_up_exps.weight", count: e.numExperts, rows: f, columns: d)
            let down = try loader.experts(p + "ffn_down_exps.weight", count: e.numExperts, rows: d, columns: f)
            experts = (0..<e.numExperts).map { ExpertMLP(gate: gate[$0], up: up[$0], down: down[$0]) }
            interleaved = experts.allSatisfy(\.isInterleaved)
        } else {
            experts = []
            interleaved = ExpertMLP.interleaves(file: loader.file, config: c, layer: moeLayer)
        }
        if let sf = e.sharedExpertFeedForward {
            shared = SharedExpert(
                gateInput: try loader.vector(p + "ffn_gate_inp_shexp.weight", count: d),
                gateUp: [try loader.matrix(p + "ffn_gate_shexp.weight", rows: sf, columns: d),
                         try loader.matrix(p + "ffn_up_shexp.weight", rows: sf, columns: d)],
                down: try loader.matrix(p + "ffn_down_shexp.weight", rows: d, columns: sf))
        } else {
            shared = nil
        }
    }

    /// The layer's MLP output for `n` tokens of normed activations `x` (n × d) into `out` (n × d).
    /// With a dispatcher on `routing`, the routed experts run on its ranks while the shared
    /// expert runs here; a failed dispatch leaves zeros for the routed part (the engine drops the pass).
    func forward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, tokens n: Int, model c: ModelConfig,
                 routing: ExpertRouter, workspace: ForwardWorkspace, pool: ThreadPool) {
        if routing.dispatcher != nil {
            let ticket = start(x, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
            finish(ticket, x, into: out, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
            return
        }
        precondition(!experts.isEmpty, "an expert-parallel model runs with its router's dispatcher set")
        let ws = workspace.experts, rows = n * config.numExpertsUsed, d = c.hiddenSize
        let input = route(x, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
        ExpertExecution(workspace: ws, scratch: workspace.scratch).run(
            routing.numPhysicalExperts, { s in
                let count = Int(ws.slotRows.pointer[s])
                return count == 0 ? nil : (experts[routing.logicalExpert(layer: moeLayer, slot: s)], Int(ws.slotStart.pointer[s]), count)
            }, input: input, rows: rows, hidden: d, width: config.expertFeedForward, activation: c.activation, pool: pool, into: ws.down.pointer)
        if let shared { sharedExpert(shared, x, tokens: n, model: c, workspace: workspace, pool: pool) }
        combine(into: out, tokens: n, hidden: d, workspace.experts)
    }

    /// Routes the tokens and sends their rows to the dispatcher's ranks; ``finish(_:_:into:tokens:model:routing:workspace:pool:)``
    /// completes the layer. Between the two, the workspace's expert buffers stay in use.
    func start(_ x: UnsafePointer<Float>, tokens n: Int, model c: ModelConfig, routing: ExpertRouter, workspace: ForwardWorkspace,
               pool: ThreadPool) -> ExpertTicket {
        let ws = workspace.experts, rows = n * config.numExpertsUsed, d = c.hiddenSize
        let input = route(x, tokens: n, model: c, routing: routing, workspace: workspace, pool: pool)
        let rowBytes = interleaved ? d / 32 * MemoryLayout<pg_block_q8>.stride : d * MemoryLayout<Float>.stride
        let pointer: UnsafeRawPointer = switch input {
        case .quantized(let q): UnsafeRawPointer(q)
        case .floats(let v): UnsafeRawPointer(v)
        }
        return routing.dispatcher!.start(ExpertBatch(
            layer: moeLayer, numSlots: routing.numPhysicalExperts, slotRows: ws.slotRows.pointer, slotStart: ws.slotStart.pointer,
            slotExperts: routing.physicalToLogical(layer: moeLayer), rows: rows, input: pointer, rowBytes: rowBytes, quantized: interleaved,
            output: ws.down.pointer, hidden: d))
    }

    /// The shared expert here while the ranks compute, then their rows, summed per token.
    func finish(_ ticket: ExpertTicket, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, tokens n: Int, model c: ModelConfig,
                routing: ExpertRouter, workspace: ForwardWorkspace, pool: ThreadPool) {
        let ws = workspace.experts, d = c.hiddenSize
        if let shared { sharedExpert(shared, x, tokens: n, model: c, workspace: workspace, pool: pool) }
        if !routing.dispatcher!.finish(ticket) { ws.down.pointer.update(repeating: 0, count: n * config.numExpertsUsed * d) }
        combine(into: out, tokens: n, hidden: d, ws)
    }

    /// Router logits, routing, and the experts' gathered input rows (into the workspace; `down`
    /// is made room for).
    private func route(_ x: UnsafePointer<Float>, tokens n: Int, model c: ModelConfig, routing: ExpertRouter, workspace: ForwardWorkspace,
                       pool: ThreadPool) -> ExpertRows {
        let ws = workspace.experts, rows = n * config.numExpertsUsed, d = c.hiddenSize
        ws.logits.reserve(n * config.numExperts)
        routerLogits(x, tokens: n, into: ws.logits.pointer, workspace: workspace, pool: pool)
        route(tokens: n, routing: routing, ws)
        ws.down.reserve(rows * d)
        return gather(x, tokens: n, rows: rows, hidden: d, ws)
    }

    /// The experts' input rows: the activations quantized once and gathered by row (interleaved
    /// experts), or the float activations gathered by row.
    private func gather(_ x: UnsafePointer<Float>, tokens n: Int, rows: Int, hidden d: Int, _ ws: ExpertWorkspace) -> ExpertRows {
        if interleaved {
            let bd = d / 32
            ws.quantized.reserve(n * bd)
            ws.gathered.reserve(rows * bd)
            quantizeRows(x, columns: d, tokens: n, into: ws.quantized.pointer)
            for r in 0..<rows {
                (ws.gathered.pointer + r * bd).update(from: ws.quantized.pointer + Int(ws.rowToken.pointer[r]) * bd, count: bd)
            }
            return .quantized(ws.gathered.pointer)
        }
        ws.gatheredFloats.reserve(rows * d)
        for r in 0..<rows { (ws.gatheredFloats.pointer + r * d).update(from: x + Int(ws.rowToken.pointer[r]) * d, count: d) }
        return .floats(ws.gatheredFloats.pointer)
    }

    /// x · routerᵀ. A float router (as converters write it) is small: for a few tokens it runs on
    /// this thread rather than as one more parallel region.
    private func routerLogits(_ x: UnsafePointer<Float>, tokens n: Int, into y: UnsafeMutablePointer<Float>, workspace: ForwardWorkspace,
                              pool: ThreadPool) {
        let t = router.type
        if n < 8, t == .f32 || t == .f16 || t == .bf16 {
            pg_gemm_f(Int32(t.rawValue), router.data, Int64(router.columns), 0, Int64(router.rows), x, Int64(n), y, Int64(router.rows))
        } else {
            matmul(router, x, tokens: n, into: y, scratch: workspace.scratch, pool: pool)
        }
    }

    /// Softmax over each token's logits, its top k (weights renormalized and scaled as
    /// configured), the slot of each pair, and the rows grouped by slot (a counting sort). The
    /// pairs of an expert with replicas are split evenly over them (``ExpertRouter/slot(layer:expert:ordinal:of:)``).
    private func route(tokens n: Int, routing: ExpertRouter, _ ws: ExpertWorkspace) {
        let e = config.numExperts, k = config.numExpertsUsed, slots = routing.numPhysicalExperts
        ws.pairSlot.reserve(n * k)
        ws.pairWeight.reserve(n * k)
        ws.pairRow.reserve(n * k)
        ws.rowToken.reserve(n * k)
        ws.slotRows.reserve(slots)
        ws.slotStart.reserve(slots)
        ws.expertPairs.reserve(e)
        ws.expertOrdinal.reserve(e)
        let rowsOfSlot = ws.slotRows.pointer, start = ws.slotStart.pointer
        let pairsOf = ws.expertPairs.pointer, ordinal = ws.expertOrdinal.pointer
        for s in 0..<slots { rowsOfSlot[s] = 0 }
        for x in 0..<e {
            pairsOf[x] = 0
            ordinal[x] = 0
        }
        for t in 0..<n {
            let logits = ws.logits.pointer + t * e
            let top = maximum(logits, e)
            scale(logits, by: 1 / exponentials(logits, e, shift: top, into: logits), e)
            let pairs = t * k
            var sum: Float = 0
            for j in 0..<k {
                var best = -1
                var bestValue = -Float.infinity
                for i in 0..<e where logits[i] > bestValue { best = i; bestValue = logits[i] }
                logits[best] = -.infinity  // taken
                ws.pairWeight.pointer[pairs + j] = bestValue
                sum += bestValue
                ws.pairSlot.pointer[pairs + j] = Int32(best)  // the expert, until its slot is chosen below
                pairsOf[best] += 1
            }
            let scale = (config.normalizeTopKWeights ? 1 / sum : 1) * config.routedScaling
            for j in 0..<k { ws.pairWeight.pointer[pairs + j] *= scale }
        }
        for i in 0..<(n * k) {
            let expert = Int(ws.pairSlot.pointer[i])
            let slot = routing.slot(layer: moeLayer, expert: expert, ordinal: Int(ordinal[expert]), of: Int(pairsOf[expert]))
            ordinal[expert] += 1
            ws.pairSlot.pointer[i] = Int32(slot)
            rowsOfSlot[slot] += 1
            routing.count(layer: moeLayer, slot: slot)
        }
        routing.routed(layer: moeLayer, pairs: n * k)
        var next: Int32 = 0
        for s in 0..<slots {
            start[s] = next
            next += rowsOfSlot[s]
        }
        for i in 0..<(n * k) {
            let s = Int(ws.pairSlot.pointer[i]), row = start[s]
            start[s] += 1
            ws.pairRow.pointer[i] = row
            ws.rowToken.pointer[Int(row)] = Int32(i / k)
        }
        for s in 0..<slots { start[s] -= rowsOfSlot[s] }
    }

    /// The shared expert's gated MLP over all tokens into `sharedOut`, scaled per token by its gate.
    private func sharedExpert(_ s: SharedExpert, _ x: UnsafePointer<Float>, tokens n: Int, model c: ModelConfig,
                              workspace: ForwardWorkspace, pool: ThreadPool) {
        let ws = workspace.experts, d = c.hiddenSize, f = s.down.columns
        ws.sharedGate.reserve(n * f)
        ws.sharedUp.reserve(n * f)
        ws.sharedOut.reserve(n * d)
        matmul(s.gateUp[0], x, tokens: n, into: ws.sharedGate.pointer, scratch: workspace.scratch, pool: pool)
        matmul(s.gateUp[1], x, tokens: n, into: ws.sharedUp.pointer, scratch: workspace.scratch, pool: pool)
        ws.activation.run(c.activation, gate: ws.sharedGate.pointer, up: ws.sharedUp.pointer, width: f, rows: n, into: nil, pool: pool)
        matmul(s.down, ws.sharedGate.pointer, tokens: n, into: ws.sharedOut.pointer, scratch: workspace.scratch, pool: pool)
        s.gateInput.withUnsafeBufferPointer { g in
            for t in 0..<n {
                let logit = dot(g.baseAddress!, x + t * d, d)
                scale(ws.sharedOut.pointer + t * d, by: 1 / (1 + expf(-logit)), d)
            }
        }
    }

    /// Each token's output: its k expert rows weighted and summed in rank order, plus the shared expert's.
    private func combine(into out: UnsafeMutablePointer<Float>, tokens n: Int, hidden d: Int, _ ws: ExpertWorkspace) {
        let k = config.numExpertsUsed
        for t in 0..<n {
            let y = out + t * d
            for j in 0..<k {
                let row = ws.down.pointer + Int(ws.pairRow.pointer[t * k + j]) * d, w = ws.pairWeight.pointer[t * k + j]
                if j == 0 {
                    for i in 0..<d { y[i] = w * row[i] }
                } else {
                    for i in 0..<d { y[i] += w * row[i] }
                }
            }
            if shared != nil { add(ws.sharedOut.pointer + t * d, into: y, d) }
        }
    }
}
