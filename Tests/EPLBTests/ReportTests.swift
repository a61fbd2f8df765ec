import EPLB
import Foundation
import Testing

@Suite struct ReportTests {
    static func report(layers: Int = 4, preset: DeploymentPreset = .prefill) throws -> PlacementReport {
        let weight = try SyntheticLoad(numLayers: layers, numExperts: 64, skew: .zipf(exponent: 1.1), seed: 2).matrix()
        let placement = try ExpertLoadBalancer(preset.configuration(numExperts: 64)).rebalance(weight)
        return PlacementReport(weight: weight, placement: placement)
    }

    @Test func htmlIsSelfContainedWithOneViewPerLayer() throws {
        let report = try Self.report()
        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for layer in 0..<4 {
            #expect(html.contains("id=\"layer-\(layer)\""))
            #expect(html.contains("<option value=\"\(layer)\""))
        }
        #expect(html.components(separatedBy: "class=\"layer shown\"").count == 2)
        for external in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            #expect(!html.contains(external), "external reference \(external)")
        }
        #expect(html.components(separatedBy: "<svg").count == 6)  // overview + 4 layers
        #expect(html.components(separatedBy: "<svg").count == html.components(separatedBy: "</svg>").count)
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
