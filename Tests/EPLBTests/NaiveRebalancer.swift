/// The README's prose, transcribed as directly as possible (linear scans, no heaps, no buffers), as
/// an oracle for the optimised implementation.
enum NaiveRebalancer {
    struct Output: Equatable {
        var phy2log: [[Int]], phyrank: [[Int]], logcnt: [[Int]]
    }

    static func rebalance(_ weight: [[Double]], r: Int, g: Int, n: Int, p: Int, forceGlobal: Bool = false) -> Output {
        let hierarchical = !forceGlobal && g % n == 0
        var out = Output(phy2log: [], phyrank: [], logcnt: [])
        for row in weight {
            let layer = layer(row.map { Float($0) }, r: r, g: hierarchical ? g : 1, n: hierarchical ? n : 1, p: p)
            out.phy2log.append(layer.phy2log)
            out.phyrank.append(layer.phyrank)
            out.logcnt.append(layer.logcnt)
        }
        return out
    }

    /// Balanced packing: returns (bin, rank) per item.
    static func pack(_ loads: [Float], bins m: Int) -> [(bin: Int, rank: Int)] {
        let per = loads.count / m
        if per == 1 { return loads.indices.map { ($0, 0) } }
        let order = loads.indices.sorted { loads[$0] > loads[$1] || (loads[$0] == loads[$1] && $0 < $1) }
        var binLoad = [Float](repeating: 0, count: m), binItems = [Int](repeating: 0, count: m)
        var result = [(bin: Int, rank: Int)](repeating: (0, 0), count: loads.count)
        for item in order {
            var best = -1
            for b in 0..<m where binItems[b] < per && (best < 0 || binLoad[b] < binLoad[best]) { best = b }
            result[item] = (best, binItems[best])
            binLoad[best] += loads[item]
            binItems[best] += 1
        }
        return result
    }

    static func layer(_ w: [Float], r: Int, g: Int, n: Int, p: Int) -> (phy2log: [Int], phyrank: [Int], logcnt: [Int]) {
        let e = w.count, gs = e / g, en = e / n, rn = r / n, pn = p / n, perGPU = r / p
        let groupLoads = (0..<g).map { grp in (0..<gs).reduce(Float(0)) { $0 + w[grp * gs + $1] } }
        let groupPacking = pack(groupLoads, bins: n)
        var middle = [Int](repeating: 0, count: e)  // middle position -> logical
        for grp in 0..<g {
            let (bin, rank) = groupPacking[grp]
            for j in 0..<gs { middle[(bin * (g / n) + rank) * gs + j] = grp * gs + j }
        }
        var phy2log = [Int](repeating: 0, count: r), phyrank = [Int](repeating: 0, count: r)
        var logcnt = [Int](repeating: 0, count: e)
        for node in 0..<n {
            let experts = Array(middle[node * en..<(node + 1) * en])
            let loads = experts.map { w[$0] }
            var counts = [Int](repeating: 1, count: en)
            var list = Array(0..<en), ranks = [Int](repeating: 0, count: en)
            for _ in en..<rn {
                var best = 0
                for j in 1..<en where loads[j] / Float(counts[j]) > loads[best] / Float(counts[best]) { best = j }
                list.append(best)
                ranks.append(counts[best])
                counts[best] += 1
            }
            let replicaLoads = list.map { loads[$0] / Float(counts[$0]) }
            for (i, (bin, rank)) in pack(replicaLoads, bins: pn).enumerated() {
                let slot = node * rn + bin * perGPU + rank
                phy2log[slot] = experts[list[i]]
                phyrank[slot] = ranks[i]
            }
            for j in 0..<en { logcnt[experts[j]] = counts[j] }
        }
        return (phy2log, phyrank, logcnt)
    }
}
