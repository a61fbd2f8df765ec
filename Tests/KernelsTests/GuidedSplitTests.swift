import GGUF
import Kernels
import TestSupport
import Testing

/// The shrinking ranges the quantized products are cut into, and products that do not depend on
/// them.
@Suite struct GuidedSplitTests {
    @Test(arguments: [0, 1, 2, 7, 60, 61, 192, 3_072, 100_000], [1, 2, 8])
    func rangesCoverTheWholeInOrder(total: Int, granularity: Int) {
        for threads in [1, 2, 4, 16] {
            let split = GuidedSplit(total, granularity: granularity, threads: threads)
            #expect(split.count <= GuidedSplit.capacity)
            #expect((split.count == 0) == (total == 0))
            var next = 0, previous = Int.max
            for i in 0..<split.count {
                let r = split.range(i)
                #expect(r.lowerBound == next && !r.isEmpty && r.lowerBound % granularity == 0)
                #expect(r.count <= previous, "ranges never grow")
                previous = r.count
                next = r.upperBound
            }
            #expect(next == total)
            if total >= 8 * granularity * threads {
                let units = (total + granularity - 1) / granularity
                #expect(split.range(0).count <= ((units + 2 * threads - 1) / (2 * threads)) * granularity)
                #expect(split.count > 2 * threads, "small ranges at the end")
            }
        }
    }

    /// Too many threads for the capacity: the smallest range grows until the ranges fit.
    @Test func manyThreadsStillFit() {
        for threads in [64, 256, 4_096] {
            let split = GuidedSplit(1_000_000, threads: threads)
            #expect(split.count <= GuidedSplit.capacity && split.count > threads / 64)
            #expect(split.range(split.count - 1).upperBound == 1_000_000)
        }
    }

    /// Products over many ranges (stacked matrices whose boundaries fall inside them) give on two
    /// threads what one thread gives, bit for bit.
    @Test(arguments: [1, 9])
    func productsAreTheSameOnAnyThreadCount(tokens: Int) {
        var rng = SeededRandom(seed: 5)
        let k = 96, rows = [528, 112, 400]
        let weights = rows.map { r -> UnsafeMutableRawPointer in
            let bytes = QuantizedMatMulTests.randomWeights(.q4_1, rows: r, columns: k, rng: &rng)
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return p
        }
        defer { weights.forEach { $0.deallocate() } }
        let matrices = zip(rows, weights).map { WeightMatrix(type: .q4_1, rows: $0, columns: k, data: $1) }
        let x = (0..<(tokens * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        func products(threads: Int) -> [[Float]] {
            let outputs = rows.map { UnsafeMutablePointer<Float>.allocate(capacity: tokens * $0) }
            defer { outputs.forEach { $0.deallocate() } }
            matmul(matrices, x, tokens: tokens, into: outputs, scratch: MatMulScratch(), pool: ThreadPool(threadCount: threads))
            return zip(outputs, rows).map { Array(UnsafeBufferPointer(start: $0, count: tokens * $1)) }
        }
        #expect(GuidedSplit(rows.reduce(0, +) / 8, granularity: 2, threads: 2).count > 8)
        #expect(products(threads: 2) == products(threads: 1))
    }
}
