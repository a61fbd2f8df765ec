import CKernels
import Foundation

/// This machine's limits, measured the way the kernels meet them: DRAM read bandwidth (a buffer
/// far larger than the last-level cache, summed with wide, prefetched loads), FP32 FMA throughput
/// (independent register-only multiply-adds) and int8 dot-product throughput (the quantized
/// kernels' u8 × s8 step, register-only), on the pool's threads.
public enum MachineProbe {
    /// Bytes per second read from DRAM by all the pool's threads at once (best of `rounds`).
    public static func readBandwidth(pool: ThreadPool, bytes: Int = 512 << 20, rounds: Int = 5) -> Double {
        let count = bytes / MemoryLayout<Float>.stride
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        pool.parallelRanges(count, granularity: 4096) { r in
            for i in r { buffer[i] = Float(i & 7) }  // fault every page in before timing
        }
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount * 64)
        defer { sink.deallocate() }
        // Many pieces taken in turn, so every thread streams even if one starts late.
        let pieces = 64 * pool.threadCount, per = count / pieces / 64 * 64
        return bestRate(rounds: rounds, work: Double(pieces * per * 4)) {
            pool.parallelFor(pieces) { i in
                let s = sum(buffer + i * per, per)
                if s == .infinity { sink[0] = s }  // keeps the sum alive
            }
        }
    }

    /// FP32 floating-point operations per second (a fused multiply-add counts two) on all the
    /// pool's threads (best of `rounds`).
    public static func fmaThroughput(pool: ThreadPool, rounds: Int = 5) -> Double {
        let iterations = 4_000_000
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount * 64)
        defer { sink.deallocate() }
        // 8 chains of 16 lanes, 2 operations per lane.
        return bestRate(rounds: rounds, work: Double(iterations * 8 * 16 * 2 * pool.threadCount)) {
            pool.parallelFor(pool.threadCount) { t in sink[t * 64] = fmaChains(iterations, seed: Float(t)) }
        }
    }

    /// int8 operations per second (a u8 × s8 multiply-add counts two) on all the pool's threads,
    /// as the quantized kernels' dot-product step gives them at the active level, on `width`-bit
    /// vectors (512 only with AVX-512 VNNI); nil where the level has no such step (best of
    /// `rounds`).
    public static func int8Throughput(pool: ThreadPool, width: Int = 256, rounds: Int = 5) -> Double? {
        let iterations = 4_000_000
        guard pg_int8_dot_chains(1, Int32(width)) != -1 else { return nil }
        let sink = UnsafeMutablePointer<Int64>.allocate(capacity: pool.threadCount * 8)
        defer { sink.deallocate() }
        // 8 chains of width/32 lanes, 4 multiply-adds (8 operations) per lane.
        return bestRate(rounds: rounds, work: Double(iterations * 8 * (width / 32) * 8 * pool.threadCount)) {
            pool.parallelFor(pool.threadCount) { t in sink[t * 8] = pg_int8_dot_chains(Int64(iterations), Int32(width)) }
        }
    }

    /// `work` units per second of `body`, the best of `rounds` runs.
    private static func bestRate(rounds: Int, work: Double, _ body: () -> Void) -> Double {
        var best = 0.0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            best = max(best, work / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        return best
    }

    /// Wide loads with software prefetch 1 KiB ahead, as the kernels stream their weights (the
    /// probe should not be easier to beat than the machine).
    @inline(never)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = Vec16(), a1 = Vec16(), a2 = Vec16(), a3 = Vec16()
        var i = 0
        while i + 64 <= n {
            pg_prefetch(p + i + 256, 256)
            a0 += load16(p + i)
            a1 += load16(p + i + 16)
            a2 += load16(p + i + 32)
            a3 += load16(p + i + 48)
            i += 64
        }
        return horizontalSum(a0 + a1 + a2 + a3)
    }

    /// Eight independent FMA chains: enough in flight to cover the FMA latency on two pipes.
    @inline(never)
    static func fmaChains(_ iterations: Int, seed: Float) -> Float {
        let m = Vec16(repeating: 0.999_999), c = Vec16(repeating: 1e-7)
        var a0 = Vec16(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3
        var a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7
        for _ in 0..<iterations {
            a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m)
            a2 = c.addingProduct(a2, m); a3 = c.addingProduct(a3, m)
            a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
            a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m)
        }
        return horizontalSum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7)
    }
}
