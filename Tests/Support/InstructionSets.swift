import CKernels
import Synchronization

/// The matrix kernels' instruction-set levels for tests that run each in turn. The level is
/// process-wide, so such tests take one lock while they hold a level (other tests may run on
/// it meanwhile: every level computes the same products, only slower).
public enum InstructionSets {
    /// Scalar, AVX2 and AVX-512 VNNI, up to what this CPU has.
    public static let available: [pg_isa] = [PG_ISA_SCALAR, PG_ISA_AVX2, PG_ISA_AVX512_VNNI].filter { $0.rawValue <= pg_isa_detected().rawValue }

    private static let lock = Mutex(())

    /// Runs `body` with the kernels at `level`, then restores the detected level.
    public static func with<T>(_ level: pg_isa, _ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in
            precondition(pg_isa_set(level) == level, "level \(level.rawValue) is not available")
            defer { _ = pg_isa_set(pg_isa_detected()) }
            return try body()
        }
    }
}
