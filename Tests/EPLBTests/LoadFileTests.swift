import EPLB
import Foundation
import Testing

@Suite struct LoadFileTests {
    func parse(_ json: String) throws(EPLBError) -> ExpertLoadMatrix {
        try ExpertLoadMatrix(jsonData: Data(json.utf8))
    }

    @Test func acceptsABareArrayOrAWeightKey() throws {
        #expect(try parse("[[1, 2.5], [3, 4]]").rows == [[1, 2.5], [3, 4]])
        #expect(try parse(#"{"name": "x", "weight": [[1, 2]], "extra": {"a": [1]}}"#).rows == [[1, 2]])
    }

    @Test func rejectsOtherShapesWithAClearError() {
        #expect(throws: EPLBError.invalidLoadFile("not valid JSON")) { try parse("[[1, 2],") }
        for bad in [#"{"weights": [[1]]}"#, #"[1, 2]"#, #"[["a"]]"#, #"{"weight": [[1, null]]}"#, "3"] {
            #expect(throws: EPLBError.self, "\(bad)") { try parse(bad) }
        }
        #expect(throws: EPLBError.raggedLoad(layer: 1, count: 1, expected: 2)) { try parse("[[1, 2], [3]]") }
        #expect(throws: EPLBError.negativeLoad(layer: 0, expert: 1, value: -2)) { try parse("[[1, -2]]") }
        #expect(throws: EPLBError.emptyLoad) { try parse("[]") }
    }

    @Test func writesWhatItReads() throws {
        let matrix = try ExpertLoadMatrix(rows: [[1, 2.5, 0], [1e6, 3, 7]])
        let data = matrix.jsonData(metadata: [("note", "a \"quoted\" line\n")])
        #expect(try ExpertLoadMatrix(jsonData: data) == matrix)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["note"] as? String == "a \"quoted\" line\n")
    }
}

@Suite struct SyntheticLoadTests {
    @Test func isDeterministicPerSeedAndShaped() throws {
        let a = try SyntheticLoad(numLayers: 5, numExperts: 32, skew: .zipf(exponent: 1.1), seed: 9).matrix()
        let b = try SyntheticLoad(numLayers: 5, numExperts: 32, skew: .zipf(exponent: 1.1), seed: 9).matrix()
        let c = try SyntheticLoad(numLayers: 5, numExperts: 32, skew: .zipf(exponent: 1.1), seed: 10).matrix()
        #expect(a == b && a != c)
        #expect(a.numLayers == 5 && a.numExperts == 32)
        #expect(a.values.allSatisfy { $0 >= 0 && $0 == $0.rounded() })
        for layer in 0..<5 {
            let row = a.row(layer), total = row.reduce(0, +)
            #expect(abs(total - 32768) < 0.15 * 32768)
            #expect(row.max()! > 4 * row.min()!, "zipf:1.1 should be skewed")
        }
        let uniform = try SyntheticLoad(numLayers: 1, numExperts: 32, skew: .uniform).matrix()
        #expect(uniform.values.max()! <= uniform.values.min()! * 1.3)
    }

    @Test func parsesSkews() throws {
        #expect(try LoadSkew(parsing: "uniform") == .uniform)
        #expect(try LoadSkew(parsing: "zipf:1.1") == .zipf(exponent: 1.1))
        for bad in ["zipf", "zipf:", "zipf:-1", "zipf:x", "normal:1", "zipf:1:2"] {
            #expect(throws: EPLBError.invalidSkew(bad)) { try LoadSkew(parsing: bad) }
        }
    }
}
