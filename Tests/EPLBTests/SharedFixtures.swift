import Foundation
import Testing

/// The shared EPLB reference material, `<package root>/../shared/eplb`.
enum SharedFixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // EPLBTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .deletingLastPathComponent()
        .appendingPathComponent("shared/eplb")

    /// The bytes of a file in the shared folder; records a clear failure when it is missing.
    static func data(_ name: String) throws -> Data {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("missing shared fixture \(url.path): the tests expect ../shared/eplb beside the package root")
            throw MissingFixture(path: url.path)
        }
        return try Data(contentsOf: url)
    }

    struct MissingFixture: Error { let path: String }
}

/// `readme-example.json`: the upstream README example with the upstream outputs.
struct ReadmeExample: Decodable {
    let weight: [[Double]]
    let numReplicas: Int, numGroups: Int, numNodes: Int, numGPUs: Int
    let phy2log: [[Int]], log2phy: [[[Int]]], logcnt: [[Int]]
    let balancednessBefore: Double, balancednessAfter: Double

    enum CodingKeys: String, CodingKey {
        case weight, phy2log, log2phy, logcnt
        case numReplicas = "num_replicas", numGroups = "num_groups", numNodes = "num_nodes", numGPUs = "num_gpus"
        case balancednessBefore = "balancedness_before", balancednessAfter = "balancedness_after"
    }

    static func load() throws -> ReadmeExample {
        try JSONDecoder().decode(ReadmeExample.self, from: SharedFixtures.data("readme-example.json"))
    }
}
