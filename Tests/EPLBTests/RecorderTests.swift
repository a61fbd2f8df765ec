import EPLB
import Foundation
import Testing

@Suite struct RecorderTests {
    func recorder(_ aggregation: ExpertLoadRecorder.Aggregation) throws -> ExpertLoadRecorder {
        try ExpertLoadRecorder(.init(numLayers: 2, numExperts: 3, aggregation: aggregation))
    }

    @Test func slidingWindowKeepsTheLastSteps() throws {
        var r = try recorder(.window(steps: 2))
        try r.record(layer: 0, expertCounts: [1, 2, 3])
        r.endStep()
        try r.record(layer: 0, expertCounts: [10, 0, 0])
        try r.record(layer: 1, selectedExperts: [2, 2, 0])
        #expect(r.load.rows == [[11, 2, 3], [1, 0, 2]])
        r.endStep()  // the first step leaves the window
        #expect(r.load.rows == [[10, 0, 0], [1, 0, 2]])
        try r.record(layer: 0, expertCounts: [UInt8(1), 1, 1])
        #expect(r.load.rows == [[11, 1, 1], [1, 0, 2]])
        r.endStep()
        r.endStep()
        #expect(r.load.rows == [[0, 0, 0], [0, 0, 0]])
        #expect(r.stepsRecorded == 4)
    }

    @Test func decayFadesOldSteps() throws {
        var r = try recorder(.decay(factor: 0.5))
        try r.record(layer: 1, expertCounts: [8, 4, 0])
        r.endStep()
        try r.record(layer: 1, expertCounts: [0, 0, 2])
        #expect(r.load.rows == [[0, 0, 0], [4, 2, 2]])
        r.endStep()
        #expect(r.load.rows == [[0, 0, 0], [2, 1, 1]])
    }

    @Test func badCallsAreTypedErrors() throws {
        var r = try recorder(.window(steps: 3))
        #expect(throws: EPLBError.layerOutOfRange(layer: 2, numLayers: 2)) { try r.record(layer: 2, expertCounts: [1, 1, 1]) }
        #expect(throws: EPLBError.expertCountMismatch(count: 2, expected: 3)) { try r.record(layer: 0, expertCounts: [1, 1]) }
        #expect(throws: EPLBError.invalidCount(layer: 0, expert: 1, count: -1)) { try r.record(layer: 0, expertCounts: [1, -1, 1]) }
        #expect(throws: EPLBError.expertOutOfRange(expert: 3, numExperts: 3)) { try r.record(layer: 0, selectedExperts: [0, 3]) }
        #expect(throws: EPLBError.nonPositiveParameter(name: "window steps", value: 0)) { try recorder(.window(steps: 0)) }
        #expect(throws: EPLBError.invalidDecay(1.5)) { try recorder(.decay(factor: 1.5)) }
    }

    @Test func jsonRoundTripResumesExactly() throws {
        for aggregation in [ExpertLoadRecorder.Aggregation.window(steps: 3), .decay(factor: 0.9)] {
            var r = try recorder(aggregation)
            var rng = SplitMix64(seed: 5)
            for _ in 0..<7 {
                for layer in 0..<2 {
                    try r.record(layer: layer, expertCounts: (0..<3).map { _ in rng.nextInt(below: 100) })
                }
                r.endStep()
            }
            let copy = try ExpertLoadRecorder(jsonData: r.jsonData())
            #expect(copy.load == r.load)
            #expect(copy.stepsRecorded == 7)
            var a = r, b = copy
            for _ in 0..<4 {
                try a.record(layer: 0, expertCounts: [1, 2, 3])
                try b.record(layer: 0, expertCounts: [1, 2, 3])
                a.endStep()
                b.endStep()
                #expect(a.load == b.load)
            }
            // An export is also a load file.
            #expect(try ExpertLoadMatrix(jsonData: r.jsonData()) == r.load)
        }
    }

    @Test func importRejectsInconsistentFiles() {
        let bad = [
            #"{"num_layers": 2, "num_experts": 3, "window_steps": 2, "weight": [[0,0,0],[0,0,0]], "window": [[[0,0,0],[0,0,0]]]}"#,
            #"{"num_layers": 1, "num_experts": 2, "decay": 0.5, "weight": [[1, 2, 3]]}"#,
            #"{"num_layers": 1, "num_experts": 2, "decay": 2, "weight": [[1, 2]]}"#,
            #"{"num_layers": 1, "num_experts": 1, "window_steps": 1, "weight": [[0]], "window": [[[-4]]]}"#,
        ]
        for json in bad {
            #expect(throws: (any Error).self, "\(json)") { try ExpertLoadRecorder(jsonData: Data(json.utf8)) }
        }
    }

    @Test func feedsTheBalancer() throws {
        var r = try ExpertLoadRecorder(.init(numLayers: 2, numExperts: 12, aggregation: .window(steps: 4)))
        let example = try ReadmeExample.load()
        for (layer, row) in example.weight.enumerated() {
            try r.record(layer: layer, expertCounts: row.map { Int($0) })
        }
        let placement = try ExpertLoadBalancer(
            RebalanceConfiguration(numReplicas: 16, numGroups: 4, numNodes: 2, numGPUs: 8)
        ).rebalance(r.load)
        #expect(placement.phy2log == example.phy2log)
    }
}
