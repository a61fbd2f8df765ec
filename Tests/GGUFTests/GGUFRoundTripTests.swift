import Foundation
import GGUF
import TestSupport
import Testing

struct GGUFRoundTripTests {
    static func sample() -> GGUFWriter {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("u8", .uint8(200)); w.set("i8", .int8(-100)); w.set("u16", .uint16(60000)); w.set("i16", .int16(-30000))
        w.set("u32", .uint32(4_000_000_000)); w.set("i32", .int32(-2_000_000_000)); w.set("u64", .uint64(UInt64.max))
        w.set("i64", .int64(Int64.min)); w.set("f32", .float32(0.5)); w.set("f64", .float64(-2.25)); w.set("bool", .bool(true))
        w.set("string", .string("héllo ☃"))
        w.set("nested", .array(elementType: .array, values: [
            .array(elementType: .int32, values: [.int32(1), .int32(2)]),
            .array(elementType: .string, values: [.string("a"), .string("")]),
        ]))
        w.add(.init(name: "vec", shape: [4], floats: [1, 2, 3, 4]))
        w.add(.init(name: "mat", shape: [32, 2], type: .q8_0, data: [UInt8](repeating: 1, count: 68)))
        return w
    }

    @Test func everyValueTypeRoundTrips() throws {
        let w = Self.sample()
        let f = try GGUFFile(bytes: w.bytes())
        #expect(f.version == 3)
        #expect(f.metadata.entries.count == w.metadata.count)
        for (key, value) in w.metadata { #expect(f.metadata[key] == value, "\(key)") }
        #expect(try f.metadata.int("u32") == 4_000_000_000)
        #expect(f.metadata["u64"]?.intValue == nil)  // does not fit in Int
        #expect(throws: GGUFError.missingKey("nope")) { try f.metadata.string("nope") }
        #expect(throws: GGUFError.wrongValueType(key: "u8", expected: "a string")) { try f.metadata.string("u8") }
        let vec = try #require(f.tensorInfo("vec"))
        #expect(Dequantize.toFloats(vec.type, f.tensorData(vec), count: 4) == [1, 2, 3, 4])
        let mat = try #require(f.tensorInfo("mat"))
        #expect(mat.shape == [32, 2] && mat.type == .q8_0 && mat.byteCount == 68 && mat.rowCount == 2)
        #expect(mat.offset % f.alignment == 0)
    }

    @Test func customAlignmentIsHonoured() throws {
        var w = Self.sample()
        w.alignment = 64
        let f = try GGUFFile(bytes: w.bytes())
        #expect(f.alignment == 64)
        #expect(f.dataOffset % 64 == 0)
        for t in f.tensors { #expect(t.offset % 64 == 0) }
        #expect(try Dequantize.toFloats(.f32, f.tensorData(#require(f.tensorInfo("vec"))), count: 4) == [1, 2, 3, 4])
    }

    @Test func version2IsRead() throws {
        var bytes = Self.sample().bytes()
        bytes[4] = 2
        #expect(try GGUFFile(bytes: bytes).version == 2)
    }

    @Test func mapsFilesFromDisk() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-\(UUID()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.sample().write(to: path)
        let f = try GGUFFile(path: path)
        #expect(f.metadata["string"] == .string("héllo ☃"))
        #expect(throws: GGUFError.self) { try GGUFFile(path: path + ".missing") }
    }
}
