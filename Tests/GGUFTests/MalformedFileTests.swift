import Foundation
import GGUF
import TestSupport
import Testing

/// Malformed files give a typed error naming what is wrong, never a crash or a huge allocation.
struct MalformedFileTests {
    static let valid: [UInt8] = {
        var w = GGUFRoundTripTests.sample()
        w.set("tokens", .array(elementType: .string, values: (0..<40).map { .string("tok\($0)") }))
        w.add(.init(name: "k", shape: [256, 2], type: .q4_K, data: [UInt8](repeating: 7, count: 288)))
        return w.bytes()
    }()

    func put<T: FixedWidthInteger>(_ v: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    @Test func badMagic() {
        var b = Self.valid
        b[0] = UInt8(ascii: "X")
        #expect(throws: GGUFError.badMagic(found: 0x4655_4758)) { try GGUFFile(bytes: b) }
        #expect(throws: GGUFError.truncated(what: "magic", offset: 0)) { try GGUFFile(bytes: [UInt8]()) }
    }

    @Test func unsupportedVersion() {
        var b = Self.valid
        put(UInt32(1), at: 4, in: &b)
        #expect(throws: GGUFError.unsupportedVersion(1)) { try GGUFFile(bytes: b) }
    }

    @Test func absurdCounts() {
        var b = Self.valid
        put(UInt64.max, at: 8, in: &b)
        #expect(throws: GGUFError.absurdCount(what: "tensor count", count: UInt64.max)) { try GGUFFile(bytes: b) }
        b = Self.valid
        put(UInt64(1) << 60, at: 16, in: &b)
        #expect(throws: GGUFError.absurdCount(what: "metadata count", count: 1 << 60)) { try GGUFFile(bytes: b) }
        b = Self.valid
        put(UInt64(1) << 50, at: 24, in: &b)  // length of the first key
        #expect(throws: GGUFError.self) { try GGUFFile(bytes: b) }
    }

    @Test func everyTruncationFails() {
        // Cutting anywhere before the end of the last tensor's data must fail cleanly.
        let f = try! GGUFFile(bytes: Self.valid)
        let end = f.dataOffset + f.tensors.map { $0.offset + $0.byteCount }.max()!
        for n in 0..<end {
            do {
                _ = try GGUFFile(bytes: Self.valid[0..<n])
                Issue.record("a file cut at byte \(n) was read")
            } catch .truncated, .absurdCount, .tensorOutOfBounds {
                // A count the remaining bytes cannot hold is refused before its items are read;
                // a cut in the data section leaves a tensor out of bounds.
            } catch {
                Issue.record("a file cut at byte \(n): \(error), not a truncation's error")
            }
        }
    }

    @Test func unknownTypesAndBadShapes() throws {
        var w = GGUFWriter()
        w.add(.init(name: "t", shape: [33], type: .q8_0, data: [UInt8](repeating: 0, count: 34)))
        #expect(throws: GGUFError.badShape(tensor: "t", dims: [33])) { try GGUFFile(bytes: w.bytes()) }
        w = GGUFWriter()
        w.add(.init(name: "t", shape: [4], floats: [1, 2, 3, 4]))
        var b = w.bytes()
        // Tensor info: name (8 + 1) + n_dims (4) + dims (8) + type (4) + offset (8), right after the header.
        let typeOffset = 24 + 9 + 4 + 8
        put(UInt32(99), at: typeOffset, in: &b)
        #expect(throws: GGUFError.unknownTensorType(tensor: "t", type: 99)) { try GGUFFile(bytes: b) }
        b = w.bytes()
        put(UInt64(1) << 62, at: 24 + 9 + 4, in: &b)
        #expect(throws: GGUFError.badShape(tensor: "t", dims: [1 << 62])) { try GGUFFile(bytes: b) }
        b = w.bytes()
        put(UInt64(4096), at: typeOffset + 4, in: &b)
        #expect {
            try GGUFFile(bytes: b)
        } throws: { error in
            if case .tensorOutOfBounds(tensor: "t", offset: 4096, size: 16, _) = error as? GGUFError { return true }
            return false
        }
        b = w.bytes()
        put(UInt32(7), at: 24 + 9, in: &b)
        #expect(throws: GGUFError.tooManyDimensions(tensor: "t", count: 7)) { try GGUFFile(bytes: b) }
    }

    /// 12,000 random mutations of a valid file: each loads (and every tensor's data is in the
    /// mapping) or fails with a ``GGUFError`` about the bytes (never `cannotOpen`, never another
    /// error type); none crashes the process.
    @Test func fuzzedFilesNeverCrash() {
        var rng = SeededRandom(seed: 0x5EED)
        var failures = 0
        var cases: [String: Int] = [:]
        for _ in 0..<12_000 {
            var b = Self.valid
            let edits = Int.random(in: 1...4, using: &rng)
            for _ in 0..<edits {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1:
                    // Overwrite a little-endian word with an extreme value: counts, lengths, shapes.
                    let at = Int.random(in: 0..<(b.count - 8), using: &rng)
                    let v = [UInt64.max, 1 << 32, 1 << 62, 0, UInt64(Int.random(in: 0...100, using: &rng))].randomElement(using: &rng)!
                    put(v, at: at, in: &b)
                case 2: b.removeLast(Int.random(in: 1...min(64, b.count - 1), using: &rng))
                case 3:
                    let at = Int.random(in: 0..<b.count, using: &rng)
                    b.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
                default:
                    let at = Int.random(in: 0..<b.count, using: &rng)
                    b[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                }
            }
            do {
                let f = try GGUFFile(bytes: b)
                for t in f.tensors { #expect(f.tensorData(t).count == t.byteCount) }
            } catch let error as GGUFError {
                failures += 1
                if case .cannotOpen = error { Issue.record("a file read from bytes cannot fail to open: \(error)") }
                cases[String("\(error)".prefix(while: { $0 != " " && $0 != "(" })), default: 0] += 1
            } catch {
                Issue.record("not a GGUFError: \(error)")
            }
        }
        print("fuzzed GGUF files: \(failures) of 12000 refused, by first word of the error: \(cases.sorted { $0.key < $1.key })")
        #expect(failures > 1_000)
    }
}
