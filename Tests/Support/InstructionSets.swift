import CKernels

/// The matrix kernels' instruction-set levels, for tests that run each in turn. A level is set
/// for the calling thread only (and the thread pool's loops it issues), so tests running at the
/// same time keep the detected level.
public enum InstructionSets {
    /// Scalar, AVX2 and AVX-512 VNNI, up to what this CPU has. The first use prints which levels
    /// the tests run and which this CPU lacks, so a CI log tells which code ran.
    public static let available: [pg_isa] = {
        let all = [PG_ISA_SCALAR, PG_ISA_AVX2, PG_ISA_AVX512_VNNI]
        let ran = all.filter { $0.rawValue <= pg_isa_detected().rawValue }
        let missing = all.filter { $0.rawValue > pg_isa_detected().rawValue }
        print("kernel ISA levels under test: \(ran.map(name).joined(separator: ", "));"
              + " not available on this CPU: \(missing.isEmpty ? "none" : missing.map(name).joined(separator: ", "))")
        return ran
    }()

    /// The level's name as `PEREGRINE_ISA` spells it.
    public static func name(_ level: pg_isa) -> String {
        switch level {
        case PG_ISA_SCALAR: "scalar"
        case PG_ISA_AVX2: "avx2"
        default: "avx512-vnni"
        }
    }

    /// Runs `body` on this thread with the kernels at `level`, then restores the previous level.
    public static func with<T>(_ level: pg_isa, _ body: () throws -> T) rethrows -> T {
        let previous = pg_isa_thread_level()
        pg_isa_set_thread_level(Int32(level.rawValue))
        defer { pg_isa_set_thread_level(previous) }
        precondition(pg_isa_active() == level, "level \(level.rawValue) is not available")
        return try body()
    }
}
