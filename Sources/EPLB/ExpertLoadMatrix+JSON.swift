import Foundation

extension ExpertLoadMatrix {
    /// Reads a load file: either a bare L × E array of numbers, or an object whose `weight` key holds
    /// one (other keys are ignored, so a recorder export or the reference's example file works too).
    /// - Throws: `EPLBError.invalidLoadFile` when the JSON has neither shape, or a matrix error
    ///   (`.emptyLoad`, `.raggedLoad`, `.negativeLoad`, …) for bad contents.
    public init(jsonData: Data) throws(EPLBError) {
        let rows: [[Double]]
        do {
            rows = try JSONDecoder().decode(LoadFile.self, from: jsonData).weight
        } catch {
            throw .invalidLoadFile(Self.reason(error))
        }
        try self.init(rows: rows)
    }

    /// The matrix as a JSON object `{"weight": [[…], …]}`, one layer per line, integral loads written
    /// as integers. `metadata` adds string-valued keys before `weight` (readers ignore them).
    public func jsonData(metadata: [(key: String, value: String)] = []) -> Data {
        let body = (0..<numLayers).map { layer in
            "[" + row(layer).map(Self.jsonNumber).joined(separator: ",") + "]"
        }.joined(separator: ",\n  ")
        let header = metadata.map { "\(Self.jsonString($0.key)): \(Self.jsonString($0.value)),\n " }.joined()
        return Data("{\(header)\"weight\": [\n  \(body)\n]}\n".utf8)
    }

    private static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func jsonNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty: "not valid JSON"
        case is DecodingError: "expected an L × E array of numbers, or an object with a 'weight' key holding one"
        default: "\(error)"
        }
    }
}

/// The two accepted load-file shapes.
private struct LoadFile: Decodable {
    let weight: [[Double]]

    enum CodingKeys: String, CodingKey { case weight }

    init(from decoder: any Decoder) throws {
        if let bare = try? decoder.singleValueContainer().decode([[Double]].self) {
            weight = bare
        } else {
            weight = try decoder.container(keyedBy: CodingKeys.self).decode([[Double]].self, forKey: .weight)
        }
    }
}
