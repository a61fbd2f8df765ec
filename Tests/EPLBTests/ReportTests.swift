import EPLB
import Foundation
import Testing

@Suite struct ReportTests {
    static func report(layers: Int = 4, experts: Int = 64, preset: DeploymentPreset = .prefill, seed: UInt64 = 2) throws -> PlacementReport {
        let weight = try SyntheticLoad(numLayers: layers, numExperts: experts, skew: .zipf(exponent: 1.1), seed: seed).matrix()
        let placement = try ExpertLoadBalancer(preset.configuration(numExperts: experts)).rebalance(weight)
        return PlacementReport(weight: weight, placement: placement)
    }

    @Test func htmlIsSelfContainedWithEveryLayerSelectableAndOneDrawn() throws {
        let report = try Self.report()
        let html = report.html()
        let initial = report.leastBalancedLayer
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for layer in 0..<4 {
            #expect(html.contains("<option value=\"\(layer)\""))
            #expect(html.contains("<svg data-layer=\"\(layer)\" width=") == (layer == initial), "layer \(layer)")
        }
        #expect(html.contains("<option value=\"\(initial)\" selected>"))
        #expect(html.components(separatedBy: "<script type=\"application/json\" id=\"eplb-data\">").count == 2)
        for external in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            #expect(!html.contains(external), "external reference \(external)")
        }
        #expect(html.components(separatedBy: "<svg id=\"overview\"").count == 2)
        let drawn = html.components(separatedBy: "<script")[0]
        #expect(drawn.components(separatedBy: "<svg").count == 3)  // overview + the pre-drawn layer
        #expect(drawn.components(separatedBy: "<svg").count == drawn.components(separatedBy: "</svg>").count)
    }

    /// The old page drew all 58 layers: 3,814,561 bytes (prefill) and 8,015,577 bytes (decode) for this load.
    @Test(arguments: [(DeploymentPreset.prefill, 300_000), (.decode, 400_000)])
    func htmlOf58LayersIsSmall(preset: DeploymentPreset, limit: Int) throws {
        let report = try Self.report(layers: 58, experts: 256, preset: preset, seed: 1)
        let size = report.html().utf8.count
        #expect(size < limit, "\(preset): \(size) bytes")
        // Each layer costs its numbers, not a drawing: 58 layers are far less than 58 drawn layers.
        let perLayer = try Double(size - Self.report(layers: 1, experts: 256, preset: preset, seed: 1).html().utf8.count) / 57
        #expect(perLayer < 3_000, "\(preset): \(perLayer) bytes per extra layer")
    }

    @Test(arguments: DeploymentPreset.allCases)
    func embeddedDataRoundTrips(preset: DeploymentPreset) throws {
        let report = try Self.report(layers: 5, preset: preset)
        try Self.expectRoundTrip(report)
        // Fractional and zero loads.
        let rows = try Self.report(layers: 3, preset: preset).weight.rows.enumerated().map { layer, row in
            row.enumerated().map { expert, value in layer == 1 ? 0 : value * 0.37 + Double(expert) / 7 }
        }
        let weight = try ExpertLoadMatrix(rows: rows)
        let placement = try ExpertLoadBalancer(preset.configuration(numExperts: 64)).rebalance(weight)
        try Self.expectRoundTrip(PlacementReport(weight: weight, placement: placement))
    }

    static func expectRoundTrip(_ report: PlacementReport) throws {
        let html = report.html()
        let start = try #require(html.range(of: "<script type=\"application/json\" id=\"eplb-data\">"))
        let end = try #require(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        let data = try JSONDecoder().decode(EmbeddedData.self, from: Data(html[start.upperBound..<end.lowerBound].utf8))
        let p = report.placement
        #expect(data.numLayers == p.numLayers && data.numExperts == p.numExperts)
        #expect(data.numReplicas == p.numReplicas && data.numGPUs == p.numGPUs && data.numNodes == p.configuration.numNodes)
        #expect(data.initialLayer == report.leastBalancedLayer)
        #expect(data.weight == report.weight.rows)
        #expect(data.phy2log == p.phy2log)
        #expect(data.balancednessBefore == report.balancedness.perLayerBefore)
        #expect(data.balancednessAfter == report.balancedness.perLayerAfter)
    }

    struct EmbeddedData: Decodable {
        let numLayers: Int, numExperts: Int, numReplicas: Int, numGPUs: Int, numNodes: Int, initialLayer: Int
        let balancednessBefore: [Double], balancednessAfter: [Double]
        let weight: [[Double]], phy2log: [[Int]]

        enum CodingKeys: String, CodingKey {
            case numLayers = "num_layers", numExperts = "num_experts", numReplicas = "num_replicas"
            case numGPUs = "num_gpus", numNodes = "num_nodes", initialLayer = "initial_layer"
            case balancednessBefore = "balancedness_before", balancednessAfter = "balancedness_after"
            case weight, phy2log
        }
    }

    /// Every layer of the 58-layer reports: each GPU-load bar lies inside the plot area, and the
    /// axis fits the data (the highest bar fills at least 3/4 of the plot's height).
    @Test(arguments: DeploymentPreset.allCases)
    func loadBarsStayInsideTheirPlot(preset: DeploymentPreset) throws {
        let report = try Self.report(layers: 58, experts: 256, preset: preset, seed: 1)
        for layer in 0..<58 {
            try Self.expectBarsInsidePlot(report.svg(layer: layer), "\(preset) layer \(layer)")
        }
        let html = report.html()
        let start = try #require(html.range(of: "<div id=\"layer-view\">"))
        let end = try #require(html.range(of: "</div>", range: start.upperBound..<html.endIndex))
        try Self.expectBarsInsidePlot(String(html[start.upperBound..<end.lowerBound]), "\(preset) html")
    }

    @Test func loadBarsStayInsideTheirPlotForEdgeLoads() throws {
        let configuration = RebalanceConfiguration(numReplicas: 8, numGPUs: 4)
        let rows: [[Double]] = [
            [0, 0, 0, 0], [8000, 0, 0, 0], [2000, 2000, 2000, 2000], [0.003, 0.001, 0, 0.0025],
            [1e12, 3e11, 7, 0], [1, 1, 1, 1.0000001], [12_345, 99_999, 123_456_789, 5],
        ]
        let weight = try ExpertLoadMatrix(rows: rows)
        let report = PlacementReport(weight: weight, placement: try ExpertLoadBalancer(configuration).rebalance(weight))
        for layer in rows.indices {
            try Self.expectBarsInsidePlot(report.svg(layer: layer), "layer \(layer)", allowEmpty: layer == 0)
        }
    }

    static func expectBarsInsidePlot(_ svg: String, _ what: String, allowEmpty: Bool = false) throws {
        let rects = SVGRects(svg)
        let plots = rects.filter { $0["class"] == "plot" }
        try #require(plots.count == 1, "\(what): \(plots.count) plot areas")
        let top = try #require(Double(plots[0]["y"] ?? "")), height = try #require(Double(plots[0]["height"] ?? ""))
        let bars = rects.filter { ($0["class"] ?? "").split(separator: " ").contains("bar") }
        #expect(!bars.isEmpty, "\(what): no bars")
        var highest = 0.0
        for bar in bars {
            let y = try #require(Double(bar["y"] ?? "")), h = try #require(Double(bar["height"] ?? ""))
            // Coordinates are rounded to 0.1 px one by one: the top is exact, the bottom may move 0.1.
            #expect(y >= top - 1e-9 && h >= 0 && y + h <= top + height + 0.1 + 1e-9, "\(what): bar \(y)…\(y + h) outside \(top)…\(top + height)")
            highest = max(highest, h)
        }
        if !allowEmpty {
            #expect(highest >= 0.75 * height, "\(what): the highest bar is \(highest) of \(height) px: the axis does not fit the data")
        }
    }

    @Test func svgShowsOneLayerWithEverySlot() throws {
        let report = try Self.report(preset: .decode)
        let svg = report.svg(layer: 1)
        #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("Layer 1:"))
        let slots = report.placement.numReplicas
        #expect(svg.components(separatedBy: "class=\"single\"").count + svg.components(separatedBy: "class=\"replica\"").count - 2 == slots)
        let replicated = report.placement.replicaCounts(layer: 1).filter { $0 > 1 }.reduce(0, +)
        #expect(svg.components(separatedBy: "class=\"replica\"").count - 1 == replicated)
    }

    @Test func summaryNamesPolicyBalancednessAndHotExperts() throws {
        let report = try Self.report()
        let summary = report.summary()
        #expect(summary.contains("policy hierarchical"))
        #expect(summary.contains("balancedness"))
        #expect(summary.contains("most replicated: layer"))
        let b = report.balancedness
        #expect(summary.contains(String(format: "%.3f → %.3f", b.meanBefore, b.meanAfter)))
        #expect(report.replicas.expertCount.enumerated().map { $0.offset * $0.element }.reduce(0, +) == 4 * report.placement.numReplicas)
    }
}

/// The attributes of every `<rect>` of an SVG text, in order.
func SVGRects(_ svg: String) -> [[String: String]] {
    svg.components(separatedBy: "<rect ").dropFirst().map { element in
        var attributes: [String: String] = [:]
        let tag = element.prefix { $0 != ">" }
        for part in tag.components(separatedBy: "\" ") {
            let pieces = part.split(separator: "=", maxSplits: 1)
            guard pieces.count == 2 else { continue }
            attributes[pieces[0].trimmingCharacters(in: .whitespaces)] = pieces[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"/ "))
        }
        return attributes
    }
}

@Suite struct BenchmarkTests {
    @Test func reportsMeasuredTimingsInOrder() throws {
        let results = try RebalanceBenchmark(numLayers: 2, numExperts: 64).run(iterations: 7)
        #expect(results.map(\.workload) == ["prefill", "decode"])
        for r in results {
            #expect(r.iterations == 7)
            #expect(r.minimum > 0 && r.minimum <= r.median && r.median <= r.p90 && r.p90 <= r.maximum, "\(r)")
        }
    }
}
