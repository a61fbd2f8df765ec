import CKernels
import Testing
@testable import Kernels

/// The int8 peak probe's chains compute what a plain loop says (so the timed instructions are
/// the dot-product steps, not something the compiler folded), at every level this CPU has;
/// 512-bit chains exist only with AVX-512 VNNI, and the baseline level has none.
struct Int8PeakProbeTests {
    /// Eight chains, lane value v ← v + Σ over v's four bytes (as unsigned) × −3, from 1…8.
    static func reference(iterations: Int, lanes: Int) -> Int64 {
        var total: Int64 = 0
        for chain in 1...8 {
            var v = Int32(chain)
            for _ in 0..<iterations {
                let bits = UInt32(bitPattern: v)
                let bytes = (0..<4).reduce(Int32(0)) { $0 + Int32((bits >> (8 * UInt32($1))) & 0xFF) }
                v = v &+ bytes &* -3
            }
            total += Int64(v) * Int64(lanes)
        }
        return total
    }

    @Test func chainsAtEveryLevel() {
        let detected = Int(pg_isa_detected().rawValue)
        for level in 0...detected {
            pg_isa_set_thread_level(Int32(level))
            defer { pg_isa_set_thread_level(-1) }
            let narrow = pg_int8_dot_chains(100, 256), wide = pg_int8_dot_chains(100, 512)
            #expect(narrow == (level >= Int(PG_ISA_AVX2.rawValue) ? Self.reference(iterations: 100, lanes: 8) : -1), "level \(level)")
            #expect(wide == (level >= Int(PG_ISA_AVX512_VNNI.rawValue) ? Self.reference(iterations: 100, lanes: 16) : -1), "level \(level)")
        }
    }

    @Test func throughputIsPositiveWhereTheLevelHasTheStep() {
        let pool = ThreadPool(threadCount: 1)
        let narrow = MachineProbe.int8Throughput(pool: pool, rounds: 1)
        #expect(pg_isa_active().rawValue >= PG_ISA_AVX2.rawValue ? (narrow ?? 0) > 0 : narrow == nil)
    }
}
