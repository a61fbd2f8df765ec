import Foundation
import GGUF
import Testing

/// Our dequantizers against the Python `gguf` package's, on vectors it produced
/// (Scripts/make_dequant_fixtures.py).
struct DequantizeTests {
    struct Entry: Decodable {
        let type: String
        let ggml_type_id: UInt32
        let elements: Int
        let bin: String
        let f32: String
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/dequant")

    static let entries: [Entry] = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode([Entry].self, from: data)
    }()

    @Test func manifestCoversEveryFileType() {
        let names = Set(Self.entries.map(\.type))
        #expect(names == ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"])
    }

    @Test(arguments: entries.map(\.type))
    func matchesPythonReference(_ typeName: String) throws {
        let entry = try #require(Self.entries.first { $0.type == typeName })
        let type = try #require(GGMLType(rawValue: entry.ggml_type_id))
        #expect(type.name == entry.type)
        let raw = try Data(contentsOf: Self.folder.appendingPathComponent(entry.bin))
        let expectedData = try Data(contentsOf: Self.folder.appendingPathComponent(entry.f32))
        #expect(raw.count == type.byteCount(elements: entry.elements))
        let expected = expectedData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let got = raw.withUnsafeBytes { Dequantize.toFloats(type, $0, count: entry.elements) }
        #expect(got.count == expected.count)
        var mismatches = 0
        for (g, e) in zip(got, expected) {
            let same = g == e || (g.isNaN && e.isNaN) || abs(g - e) <= 1e-6 * max(1, abs(e))
            if !same { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(typeName): \(mismatches) of \(expected.count) values differ")
    }

    @Test func halfConversionsRoundTrip() {
        for bits in UInt16.min...UInt16.max {
            let f = halfToFloat(bits)
            if f.isNaN { continue }
            #expect(floatToHalf(f) == bits)
        }
        #expect(bfloat16ToFloat(floatToBFloat16(1.5)) == 1.5)
        #expect(floatToBFloat16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie rounds to even
    }
}
