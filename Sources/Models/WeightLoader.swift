import GGUF
import Kernels

/// Binds tensors of a GGUF file by name, checking their shapes; the data stays memory-mapped.
struct WeightLoader {
    let file: GGUFFile

    func matrix(_ name: String, rows: Int, columns: Int) throws(ModelError) -> WeightMatrix {
        let info = try tensor(name, shape: [columns, rows])
        return WeightMatrix(type: info.type, rows: rows, columns: columns, data: file.tensorData(info).baseAddress!)
    }

    /// The `count` matrices of a 3-D expert tensor (`[columns, rows, count]`), one slice each.
    func experts(_ name: String, count: Int, rows: Int, columns: Int) throws(ModelError) -> [WeightMatrix] {
        try (0..<count).map { i throws(ModelError) in try expert(name, i, of: count, rows: rows, columns: columns) }
    }

    /// Expert `index` alone of a 3-D expert tensor (only its slice is bound and repacked).
    func expert(_ name: String, _ index: Int, of count: Int, rows: Int, columns: Int) throws(ModelError) -> WeightMatrix {
        let info = try tensor(name, shape: [columns, rows, count])
        guard columns % info.type.blockSize == 0 else {
            throw .tensorShape(name: name, expected: [columns, rows, count], found: info.shape)
        }
        let bytes = rows * (columns / info.type.blockSize) * info.type.blockBytes
        return WeightMatrix(type: info.type, rows: rows, columns: columns, data: file.tensorData(info).baseAddress! + index * bytes)
    }

    func optionalMatrix(_ name: String, rows: Int, columns: Int) throws(ModelError) -> WeightMatrix? {
        file.tensorInfo(name) == nil ? nil : try matrix(name, rows: rows, columns: columns)
    }

    /// A 1-D tensor as floats (dequantized copies: norms and biases are small).
    func vector(_ name: String, count: Int) throws(ModelError) -> [Float] {
        let info = try tensor(name, shape: [count])
        return Dequantize.toFloats(info.type, file.tensorData(info), count: count)
    }

    func optionalVector(_ name: String, count: Int) throws(ModelError) -> [Float]? {
        file.tensorInfo(name) == nil ? nil : try vector(name, count: count)
    }

    private func tensor(_ name: String, shape: [Int]) throws(ModelError) -> GGUFTensorInfo {
        guard let info = file.tensorInfo(name) else { throw .missingTensor(name) }
        // GGUF may store a vector as [n] or [n, 1]; trailing ones do not matter.
        var found = info.shape
        while found.count > shape.count, found.last == 1 { found.removeLast() }
        guard found == shape else { throw .tensorShape(name: name, expected: shape, found: info.shape) }
        return info
    }
}
