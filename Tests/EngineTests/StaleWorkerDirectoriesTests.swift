@testable import ExpertParallel
import Foundation
import Testing

/// A front killed outright leaves its workers' socket directory behind; the next front removes
/// the directories of processes that are gone, and only those.
@Suite struct StaleWorkerDirectoriesTests {
    /// The id of a process that has exited.
    static func deadProcess() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func namesParse() {
        #expect(StaleWorkerDirectories.ownerProcess(of: "peregrine-ep-4242-123456") == 4242)
        #expect(StaleWorkerDirectories.ownerProcess(of: "peregrine-ep-4242") == nil)
        #expect(StaleWorkerDirectories.ownerProcess(of: "peregrine-ep-x-1") == nil)
        #expect(StaleWorkerDirectories.ownerProcess(of: "peregrine-ep-0-1") == nil)
        #expect(StaleWorkerDirectories.ownerProcess(of: "peregrine-ep-12-1-2") == nil)
        #expect(StaleWorkerDirectories.ownerProcess(of: "hub-12-1") == nil)
    }

    @Test func removesOnlyTheDeadFrontsDirectories() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("stale-ep-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let dead = try Self.deadProcess()
        let stale = "peregrine-ep-\(dead)-17", live = "peregrine-ep-\(getpid())-18"
        for name in [stale, live, "peregrine-ep-notapid-19", "something-else"] {
            try FileManager.default.createDirectory(at: parent.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: parent.appendingPathComponent(stale).appendingPathComponent("rank0.sock").path, contents: Data())
        #expect(StaleWorkerDirectories.remove(in: parent) == [stale])
        let left = try FileManager.default.contentsOfDirectory(atPath: parent.path).sorted()
        #expect(left == [live, "peregrine-ep-notapid-19", "something-else"].sorted())
    }

    @Test func aStartingFrontRemovesThem() throws {
        let tmp = FileManager.default.temporaryDirectory
        let stale = tmp.appendingPathComponent("peregrine-ep-\(try Self.deadProcess())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: stale) }
        let front = try ExpertWorkerProcesses(count: 0, executable: URL(fileURLWithPath: "/bin/true"), modelPath: "", threads: 1)
        defer { front.terminate() }
        #expect(!FileManager.default.fileExists(atPath: stale.path))
    }
}
