import ArgumentParser
import Foundation
import GGUF
import Kernels

/// Each matrix-product kernel's speed next to this machine's limits, which it measures first:
/// DRAM read bandwidth and FP32 FMA throughput on the same threads. GEMV shapes are the default
/// model's (576 wide, FFN 1536, the 49152-row output head) plus one larger than the L3 cache;
/// GEMM is a 512-token prefill.
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "Matrix-product kernels in GB/s and GFLOP/s against the measured bandwidth and FMA peak.")

    @Option(name: .shortAndLong, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Seconds to time each kernel.")
    var seconds = 0.5

    @Option(help: "Time only the kernels whose name or type contains this text (e.g. q5_0, prefill).")
    var only: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    struct Case {
        var name: String
        var type: GGMLType
        var rows: Int
        var columns: Int
        var tokens: Int
    }

    static let cases: [Case] = [
        Case(name: "gemv attention 576x576", type: .q4_1, rows: 576, columns: 576, tokens: 1),
        Case(name: "gemv ffn up 1536x576", type: .q4_1, rows: 1536, columns: 576, tokens: 1),
        Case(name: "gemv ffn down 576x1536", type: .q4_1, rows: 576, columns: 1536, tokens: 1),
        Case(name: "gemv output head 49152x576", type: .q8_0, rows: 49152, columns: 576, tokens: 1),
        Case(name: "gemv > 2 x L3 32768x4096", type: .q4_1, rows: 32768, columns: 4096, tokens: 1),
        Case(name: "gemv > 2 x L3 16384x4096", type: .q8_0, rows: 16384, columns: 4096, tokens: 1),
        Case(name: "gemv ffn down 576x1536", type: .q4_K, rows: 576, columns: 1536, tokens: 1),
        Case(name: "gemv ffn down 576x1536", type: .q6_K, rows: 576, columns: 1536, tokens: 1),
        Case(name: "gemv > 2 x L3 32768x4096", type: .q4_K, rows: 32768, columns: 4096, tokens: 1),
        Case(name: "gemv > 2 x L3 32768x4096", type: .q6_K, rows: 32768, columns: 4096, tokens: 1),
        Case(name: "gemv > 2 x L3 32768x4096", type: .q5_0, rows: 32768, columns: 4096, tokens: 1),
        Case(name: "gemv ffn up 1536x576", type: .q4_0, rows: 1536, columns: 576, tokens: 1),
        Case(name: "gemv ffn up 1536x576", type: .f16, rows: 1536, columns: 576, tokens: 1),
        Case(name: "gemv ffn up 1536x576", type: .bf16, rows: 1536, columns: 576, tokens: 1),
        Case(name: "gemv > 2 x L3 32768x2048", type: .f16, rows: 32768, columns: 2048, tokens: 1),
        Case(name: "gemm 16 seqs ffn up 1536x576", type: .q4_1, rows: 1536, columns: 576, tokens: 16),
        Case(name: "gemm prefill ffn up 1536x576", type: .q4_1, rows: 1536, columns: 576, tokens: 512),
        Case(name: "gemm prefill ffn down 576x1536", type: .q4_1, rows: 576, columns: 1536, tokens: 512),
        Case(name: "gemm prefill 4096x576", type: .q8_0, rows: 4096, columns: 576, tokens: 512),
        Case(name: "gemm prefill ffn down 576x1536", type: .q4_K, rows: 576, columns: 1536, tokens: 512),
        Case(name: "gemm prefill ffn down 576x1536", type: .q6_K, rows: 576, columns: 1536, tokens: 512),
        Case(name: "gemm prefill gemma ffn up 2048x640", type: .q5_0, rows: 2048, columns: 640, tokens: 512),
    ]

    func run() throws {
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard n >= 1, n <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
        let pool = ThreadPool(threadCount: n)
        let bandwidth = MachineProbe.readBandwidth(pool: pool)
        let flops = MachineProbe.fmaThroughput(pool: pool)
        let int8 = MachineProbe.int8Throughput(pool: pool), int8Wide = MachineProbe.int8Throughput(pool: pool, width: 512)
        // The interleaved products run on 512-bit vectors where the CPU has them: the peak they answer to.
        let int8Peak = int8Wide ?? int8
        if !json {
            Terminal.stdout(String(format: "machine (%d threads): DRAM read %.1f GB/s, FP32 FMA %.0f GFLOP/s, int8 dot %@ GOP/s on 256 bits%@\n",
                                   n, bandwidth / 1e9, flops / 1e9, int8.map { String(format: "%.0f", $0 / 1e9) } ?? "n/a",
                                   int8Wide.map { String(format: ", %.0f on 512", $0 / 1e9) } ?? ""))
            Terminal.stdout("kernel                                        type  tokens    time/call      GB/s  %read-bw   GOP/s  %fma  %int8 (of the widest)\n")
        }
        var rows: [[String: Any]] = []
        for c in Self.cases where only.map({ c.name.contains($0) || "\(c.type)".contains($0) }) ?? true {
            let t = time(c, pool: pool)
            let bytes = Double(c.rows * c.columns / c.type.blockSize * c.type.blockBytes)
            let gbs = bytes / t / 1e9, gflops = 2 * Double(c.rows * c.columns * c.tokens) / t / 1e9
            // Quantized products run on the int8 step; float ones on FMAs.
            let quantized = c.type.blockSize > 1
            rows.append(["kernel": c.name, "type": "\(c.type)", "rows": c.rows, "columns": c.columns, "tokens": c.tokens,
                         "seconds_per_call": t, "gb_per_s": gbs, "read_bandwidth_fraction": gbs * 1e9 / bandwidth,
                         "gflop_per_s": gflops, "fma_peak_fraction": gflops * 1e9 / flops,
                         "int8_peak_fraction": (quantized ? int8Peak.map { gflops * 1e9 / $0 as Any } : nil) ?? NSNull()])
            if !json {
                let ofInt8 = quantized ? int8Peak.map { String(format: "%5.0f%%", gflops * 1e11 / $0) } ?? "  n/a" : "    -"
                Terminal.stdout(String(format: "%@ %5@ %7d %9.1f µs %9.1f %8.0f%% %7.1f %4.0f%% %@\n",
                                       c.name.padding(toLength: 45, withPad: " ", startingAt: 0), "\(c.type)", c.tokens, t * 1e6,
                                       gbs, gbs * 1e11 / bandwidth, gflops, gflops * 1e11 / flops, ofInt8))
            }
        }
        if json {
            let object: [String: Any] = ["threads": n, "read_bandwidth_gb_per_s": bandwidth / 1e9, "fma_gflop_per_s": flops / 1e9,
                                         "int8_gop_per_s": int8.map { $0 / 1e9 as Any } ?? NSNull(),
                                         "int8_512_gop_per_s": int8Wide.map { $0 / 1e9 as Any } ?? NSNull(),
                                         "kernels": rows]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Terminal.stdout(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    /// Median seconds per `matmul` call over about `seconds` of calls (after a warm-up).
    private func time(_ c: Case, pool: ThreadPool) -> Double {
        var rng = SystemRandomNumberGenerator()
        let bytes = c.rows * c.columns / c.type.blockSize * c.type.blockBytes
        let data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { data.deallocate() }
        let blockBytes = c.type.blockBytes
        for b in 0..<(bytes / blockBytes) {
            let block = data + b * blockBytes
            for i in 0..<blockBytes { block.storeBytes(of: UInt8.random(in: 0...255, using: &rng), toByteOffset: i, as: UInt8.self) }
            // Finite scales: a half in [2^-10, 2^-6) where the type's block starts with one.
            if c.type != .q4_K && c.type != .q6_K { block.storeBytes(of: UInt16.random(in: 0x1400...0x23FF, using: &rng), as: UInt16.self) }
        }
        if c.type == .f16 || c.type == .bf16 {
            let halves = data.assumingMemoryBound(to: UInt16.self)
            // Small finite values in either format (as BF16 these are tiny positive floats).
            for i in 0..<(bytes / 2) { halves[i] = UInt16.random(in: 0x1400...0x23FF, using: &rng) }
        }
        let w = WeightMatrix(type: c.type, rows: c.rows, columns: c.columns, data: data)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: c.tokens * c.columns)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: c.tokens * c.rows)
        defer { x.deallocate(); y.deallocate() }
        for i in 0..<(c.tokens * c.columns) { x[i] = Float.random(in: -1...1, using: &rng) }
        let scratch = MatMulScratch()
        matmul(w, x, tokens: c.tokens, into: y, scratch: scratch, pool: pool)
        var times: [Double] = []
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        repeat {
            let start = DispatchTime.now().uptimeNanoseconds
            matmul(w, x, tokens: c.tokens, into: y, scratch: scratch, pool: pool)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        } while DispatchTime.now().uptimeNanoseconds < deadline || times.count < 3
        return times.sorted()[times.count / 2]
    }
}
