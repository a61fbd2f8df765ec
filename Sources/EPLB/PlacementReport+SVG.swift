import Foundation

/// The drawings: balancedness per layer, GPU loads before/after and the placement grid of one layer.
extension PlacementReport {
    /// Drawing width in pixels.
    static let width = 1200.0
    static let left = 64.0, right = 16.0

    /// A standalone SVG document: the balancedness overview and one layer's view (by default the
    /// least balanced layer).
    public func svg(layer: Int? = nil) -> String {
        let layer = min(max(layer ?? leastBalancedLayer, 0), placement.numLayers - 1)
        var canvas = SVGCanvas()
        canvas.raw("<style>\(Self.stylesheet)</style>\n")
        canvas.text("EPLB placement — \(headline)", x: Self.left, y: 22, class: "title")
        var y = 36.0
        y = drawOverview(&canvas, top: y, selected: layer)
        y = drawLayer(&canvas, layer, top: y + 8)
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + canvas.svg(width: Self.width, height: y + 8, standalone: true)
    }

    var headline: String {
        let c = placement.configuration
        return "\(placement.numLayers) layers × \(placement.numExperts) experts → \(c.numReplicas) slots, "
            + "\(c.numGPUs) GPUs, \(c.numNodes) nodes, \(c.numGroups) groups, policy \(placement.policy.rawValue)"
    }

    /// Balancedness of every layer before (grey) and after (blue); returns the bottom edge.
    func drawOverview(_ canvas: inout SVGCanvas, top: Double, selected: Int?, clickable: Bool = false) -> Double {
        let height = 110.0, plotWidth = Self.width - Self.left - Self.right
        let b = balancedness, n = placement.numLayers
        canvas.text(
            "Balancedness per layer (avg ÷ max GPU load): mean \(Self.f(b.meanBefore)) before → \(Self.f(b.meanAfter)) after",
            x: Self.left, y: top + 14, class: "heading")
        let y0 = top + 24, step = plotWidth / Double(n), barWidth = max(step / 2 - 0.5, 0.5)
        for tick in [0.0, 0.5, 1.0] {
            let y = y0 + height * (1 - tick)
            canvas.line(x1: Self.left, y1: y, x2: Self.left + plotWidth, y2: y, class: "grid")
            canvas.text(Self.f(tick, 1), x: Self.left - 6, y: y + 4, class: "axis", anchor: "end")
        }
        if clickable, let selected {
            canvas.raw("<rect id=\"overview-selected\" x=\"\(SVGCanvas.n(Self.left + Double(selected) * step))\" y=\"\(SVGCanvas.n(y0))\" width=\"\(SVGCanvas.n(step))\" height=\"\(SVGCanvas.n(height))\" class=\"selected\" data-left=\"\(Self.left)\" data-step=\"\(step)\"/>\n")
        }
        for layer in 0..<n {
            let x = Self.left + Double(layer) * step
            if layer == selected && !clickable {
                canvas.rect(x: x, y: y0, width: step, height: height, class: "selected")
            }
            let before = b.perLayerBefore[layer], after = b.perLayerAfter[layer]
            let title = "layer \(layer): \(Self.f(before)) → \(Self.f(after))"
            canvas.beginGroup(title: title)
            canvas.rect(x: x + 0.5, y: y0 + height * (1 - before), width: barWidth, height: height * before, class: "before")
            canvas.rect(x: x + 0.5 + barWidth, y: y0 + height * (1 - after), width: barWidth, height: height * after, class: "after")
            canvas.endGroup()
            if clickable {
                canvas.raw("<rect x=\"\(SVGCanvas.n(x))\" y=\"\(SVGCanvas.n(y0))\" width=\"\(SVGCanvas.n(step))\" height=\"\(SVGCanvas.n(height))\" class=\"hit\" data-layer=\"\(layer)\"><title>\(title)</title></rect>\n")
            }
        }
        let labelEvery = max(1, Int((Double(n) / 20).rounded(.up)))
        for layer in stride(from: 0, to: n, by: labelEvery) {
            canvas.text("\(layer)", x: Self.left + (Double(layer) + 0.5) * step, y: y0 + height + 14, class: "axis", anchor: "middle")
        }
        canvas.text("layer", x: Self.left + plotWidth, y: y0 + height + 28, class: "axis", anchor: "end")
        return y0 + height + 30
    }

    /// One layer: its title, GPU loads and placement grid; returns the bottom edge.
    func drawLayer(_ canvas: inout SVGCanvas, _ layer: Int, top: Double) -> Double {
        let before = balancedness.perLayerBefore[layer], after = balancedness.perLayerAfter[layer]
        canvas.text(
            "Layer \(layer): balancedness \(Self.f(before)) → \(Self.f(after)); most replicas of one expert: "
                + "\(placement.replicaCounts(layer: layer).max() ?? 1)",
            x: Self.left, y: top + 16, class: "heading")
        let y = drawGPULoads(&canvas, layer, top: top + 24)
        return drawPlacementGrid(&canvas, layer, top: y + 8)
    }

    /// Per-GPU load without replication (grey) and under the placement (blue), with the mean as a
    /// dashed line and node boundaries. The y axis runs from 0 to ``loadAxis(maximum:)``'s top, at or
    /// above the largest load before or after, so every bar ends inside the plot area (the rect of
    /// class `plot`). The page's script draws the same chart (`drawLoads` in ``script``).
    func drawGPULoads(_ canvas: inout SVGCanvas, _ layer: Int, top: Double) -> Double {
        let p = placement.numGPUs, height = Self.loadPlotHeight, plotWidth = Self.width - Self.left - Self.right
        let before = weight.gpuLoadsWithoutReplication(layer: layer, numGPUs: p)
        let after = placement.gpuLoads(layer: layer, weight: weight)
        let axis = Self.loadAxis(maximum: max(before.max() ?? 0, after.max() ?? 0))
        let mean = after.reduce(0, +) / Double(p)
        let y0 = top + 30, step = plotWidth / Double(p), barWidth = max(step / 2 - (step > 6 ? 1 : 0), 0.4)
        let legend = top + 8
        canvas.rect(x: Self.left, y: legend - 8, width: 10, height: 10, class: "before")
        canvas.text("before: experts split contiguously, no replicas", x: Self.left + 14, y: legend + 1, class: "legend")
        canvas.rect(x: Self.left + 290, y: legend - 8, width: 10, height: 10, class: "after")
        canvas.text("after: EPLB placement", x: Self.left + 304, y: legend + 1, class: "legend")
        canvas.line(x1: Self.left + 440, y1: legend - 3, x2: Self.left + 470, y2: legend - 3, class: "mean")
        canvas.text("mean GPU load", x: Self.left + 476, y: legend + 1, class: "legend")
        canvas.rect(x: Self.left, y: y0, width: plotWidth, height: height, class: "plot")
        let intervals = Int((axis.top / axis.step).rounded())
        for tick in 0...intervals {
            let value = tick == intervals ? axis.top : Double(tick) * axis.step
            let y = y0 + height * (1 - value / axis.top)
            canvas.line(x1: Self.left, y1: y, x2: Self.left + plotWidth, y2: y, class: "grid")
            canvas.text(Self.tickLabel(value, axis: axis), x: Self.left - 6, y: y + 4, class: "axis", anchor: "end")
        }
        for gpu in 0..<p {
            let x = Self.left + Double(gpu) * step
            let hb = height * before[gpu] / axis.top, ha = height * after[gpu] / axis.top
            canvas.beginGroup(title: "GPU \(gpu): \(SVGCanvas.short(before[gpu])) → \(SVGCanvas.short(after[gpu]))")
            canvas.rect(x: x + 0.5, y: y0 + height - hb, width: barWidth, height: hb, class: "before bar")
            canvas.rect(x: x + 0.5 + barWidth, y: y0 + height - ha, width: barWidth, height: ha, class: "after bar")
            canvas.endGroup()
        }
        let meanY = y0 + height * (1 - mean / axis.top)
        canvas.line(x1: Self.left, y1: meanY, x2: Self.left + plotWidth, y2: meanY, class: "mean")
        drawNodeBoundaries(&canvas, y0: y0, y1: y0 + height, step: step)
        let labelEvery = max(1, Int((Double(p) / 32).rounded(.up)))
        for gpu in stride(from: 0, to: p, by: labelEvery) {
            canvas.text("\(gpu)", x: Self.left + (Double(gpu) + 0.5) * step, y: y0 + height + 13, class: "axis", anchor: "middle")
        }
        canvas.text("GPU", x: Self.left + plotWidth, y: y0 + height + 27, class: "axis", anchor: "end")
        return y0 + height + 30
    }

    /// Height of the GPU-load plot area in pixels.
    static let loadPlotHeight = 170.0

    /// The y axis for loads up to `maximum`: a tick step of 1, 2, 2.5 or 5 × 10ᵏ, the smallest that
    /// needs at most 5 intervals, and the top, the first multiple of the step at or above `maximum`.
    /// For no load (maximum 0) the axis is 0…1.
    static func loadAxis(maximum: Double) -> (top: Double, step: Double) {
        guard maximum > 0, maximum.isFinite else { return (1, 1) }
        let magnitude = pow(10, (log10(maximum / 5)).rounded(.down))
        for multiple in [1, 2, 2.5, 5, 10] {
            let step = multiple * magnitude
            var intervals = (maximum / step).rounded(.up)
            if intervals * step < maximum { intervals += 1 }
            if intervals <= 5 { return (intervals * step, step) }
        }
        return (10 * magnitude * 5, 10 * magnitude)  // not reached: 10 × magnitude > maximum / 5
    }

    /// A tick label: in k, M or G when the top is at least 10⁴, 10⁶ or 10⁹, with as many decimals
    /// as the step needs (at most 6).
    static func tickLabel(_ value: Double, axis: (top: Double, step: Double)) -> String {
        if value == 0 { return "0" }
        let (scale, suffix) =
            axis.top >= 1e9 ? (1e9, "G") : axis.top >= 1e6 ? (1e6, "M") : axis.top >= 1e4 ? (1e3, "k") : (1.0, "")
        let step = axis.step / scale
        var decimals = 0
        while decimals < 6 {
            let shifted = step * pow(10, Double(decimals))
            if abs(shifted - shifted.rounded()) <= 1e-9 * max(1, shifted) { break }
            decimals += 1
        }
        return SVGCanvas.fixed(value / scale, decimals) + suffix
    }

    private func drawNodeBoundaries(_ canvas: inout SVGCanvas, y0: Double, y1: Double, step: Double) {
        let nodes = placement.configuration.numNodes, p = placement.numGPUs
        guard nodes > 1, p % nodes == 0 else { return }
        let perNode = p / nodes
        for node in 1..<nodes {
            let x = Self.left + Double(node * perNode) * step
            canvas.line(x1: x, y1: y0, x2: x, y2: y1, class: "node")
        }
        guard nodes <= 16 else { return }
        for node in 0..<nodes {
            canvas.text("node \(node)", x: Self.left + (Double(node * perNode) + 0.5 * Double(perNode)) * step, y: y0 - 4, class: "axis", anchor: "middle")
        }
    }

    /// Slot → expert: one column of R/P cells per GPU, GPUs left to right (wrapping, whole nodes per
    /// row when they fit, a wider gap between nodes), cells shaded by the load the slot carries; cells
    /// of replicated experts are orange and carry ×count.
    func drawPlacementGrid(_ canvas: inout SVGCanvas, _ layer: Int, top: Double) -> Double {
        let p = placement.numGPUs, perGPU = placement.numReplicas / p, nodes = placement.configuration.numNodes
        let perNode = p % nodes == 0 ? p / nodes : p
        let gap = 3.0, nodeGap = perNode < p ? 6.0 : 0, cellHeight = 15.0, plotWidth = Self.width - Self.left - Self.right
        let fit = max(1, Int(plotWidth / (30 + gap)))
        let columns = fit >= p ? p : (fit >= perNode ? fit / perNode * perNode : fit)
        let nodeGaps = Double(max((columns - 1) / perNode, 0)) * nodeGap
        let cellWidth = min(44, (plotWidth - nodeGaps) / Double(columns) - gap)
        let experts = Array(placement.physicalToLogical(layer: layer)), counts = Array(placement.replicaCounts(layer: layer))
        let slotLoads = experts.map { weight[layer, $0] / Double(counts[$0]) }
        let maximum = max(slotLoads.max() ?? 0, 1e-300)
        canvas.text(
            "Placement: slot → expert id per GPU (shade = load carried by the slot; orange = replicated expert, ×k = its replica count)",
            x: Self.left, y: top + 10, class: "legend")
        let y0 = top + 18, blockHeight = Double(perGPU) * cellHeight + 16
        canvas.beginGroup(class: "cells")
        for gpu in 0..<p {
            let column = gpu % columns
            let x = Self.left + Double(column) * (cellWidth + gap) + Double(column / perNode) * nodeGap
            let y = y0 + Double(gpu / columns) * blockHeight
            canvas.text("\(gpu)", x: x + cellWidth / 2, y: y + 9, class: "axis", anchor: nil)
            for rank in 0..<perGPU {
                let slot = gpu * perGPU + rank, expert = experts[slot], count = counts[expert]
                let title = "GPU \(gpu) · slot \(slot) · expert \(expert)" + (count > 1 ? " (\(count) replicas)" : "")
                    + " · load \(SVGCanvas.short(slotLoads[slot]))"
                let cy = y + 12 + Double(rank) * cellHeight
                canvas.rect(
                    x: x, y: cy, width: cellWidth, height: cellHeight - 1, class: count > 1 ? "replica" : "single",
                    title: title, fillOpacity: 0.15 + 0.85 * slotLoads[slot] / maximum)
                canvas.text(count > 1 ? "\(expert)×\(count)" : "\(expert)", x: x + cellWidth / 2, y: cy + 10.5, class: nil, anchor: nil)
            }
        }
        canvas.endGroup()
        let rows = (p + columns - 1) / columns
        return y0 + Double(rows) * blockHeight
    }

    static func f(_ value: Double, _ digits: Int) -> String { SVGCanvas.fixed(value, digits) }

    /// Shared by the SVG and the HTML page.
    static let stylesheet = """
        text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;fill:#222}
        .title{font-size:15px;font-weight:600}.heading{font-size:13px;font-weight:600}
        .legend{font-size:11px;fill:#444}.axis{font-size:9.5px;fill:#555}
        .cells text{font-size:8.5px;fill:#111;text-anchor:middle;pointer-events:none}.cells .axis{font-size:9.5px;fill:#555}
        .grid{stroke:#ddd;stroke-width:1}.node{stroke:#999;stroke-width:1;stroke-dasharray:2 3}
        .mean{stroke:#d62728;stroke-width:1.2;stroke-dasharray:5 3}
        .before{fill:#b8b8b8}.after{fill:#2c7fb8}.selected{fill:#fff3c4}.plot{fill:none}
        .single{fill:#2c7fb8;stroke:#1b4f72;stroke-width:.5}.replica{fill:#f28e2b;stroke:#a0520f;stroke-width:.8}
        .hit{fill:transparent;cursor:pointer}.hit:hover{fill:rgba(0,0,0,.06)}
        """
}
