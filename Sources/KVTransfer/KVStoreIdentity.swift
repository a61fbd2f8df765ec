import Crypto
import Foundation
import GGUF

/// What a stored block's bytes mean: the model they were computed by and the cache layout they
/// are in. A store file written under another identity is never loaded.
public struct KVStoreIdentity: Sendable, Equatable {
    /// The model's fingerprint (the engine derives it from the GGUF file it loaded).
    public var model: String
    /// The KV element type (`f16`, `bf16`, `f32`).
    public var dtype: String
    public var blockSize: Int
    /// Bytes of one block id in one KV cache group (every layer of the group, keys and values).
    public var bytesPerBlock: Int
    public var numGroups: Int

    public init(model: String, dtype: String, blockSize: Int, bytesPerBlock: Int, numGroups: Int) {
        self.model = model
        self.dtype = dtype
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
        self.numGroups = numGroups
    }

    /// The first 8 bytes of SHA-256 over every field: the tag in a store file's name and header.
    public var fingerprint: UInt64 {
        let text = "peregrine-kv|\(model)|\(dtype)|\(blockSize)|\(bytesPerBlock)|\(numGroups)"
        return SHA256.hash(data: Data(text.utf8)).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }
}

extension KVStoreIdentity {
    /// A fingerprint of a model file: its size, architecture and every tensor's name, type,
    /// shape and offset, hashed (two fine-tunes of one architecture differ in size or layout
    /// only rarely; their metadata, name and tensor offsets almost always).
    public static func modelFingerprint(_ file: GGUFFile) -> String {
        let architecture = (try? file.metadata.string("general.architecture")) ?? ""
        let name = (try? file.metadata.string("general.name")) ?? ""
        var text = "\(file.fileSize)|\(architecture)|\(name)"
        for t in file.tensors { text += "|\(t.name):\(t.type):\(t.shape):\(t.offset)" }
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
