/// The waiting queue: FIFO for FCFS, a heap on (priority, arrival) for the priority policy.
struct RequestQueue {
    let policy: SchedulerConfig.Policy
    private var items: [Request] = []
    private var head = 0

    init(policy: SchedulerConfig.Policy) { self.policy = policy }

    var count: Int { items.count - head }
    var isEmpty: Bool { count == 0 }

    var first: Request? { isEmpty ? nil : items[head] }

    static func before(_ a: Request, _ b: Request) -> Bool {
        (a.priority, a.arrivalTime) < (b.priority, b.arrivalTime)
    }

    mutating func append(_ r: Request) {
        switch policy {
        case .fcfs: items.append(r)
        case .priority:
            items.append(r)
            siftUp(items.count - 1)
        }
    }

    /// Puts a request back at the front (preempted or skipped); a heap just re-inserts it.
    mutating func prepend(_ r: Request) {
        switch policy {
        case .fcfs:
            if head > 0 {
                head -= 1
                items[head] = r
            } else {
                items.insert(r, at: 0)
            }
        case .priority: append(r)
        }
    }

    mutating func popFirst() -> Request? {
        guard !isEmpty else { return nil }
        switch policy {
        case .fcfs:
            let r = items[head]
            head += 1
            if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return r
        case .priority:
            let r = items[0]
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                siftDown(0)
            }
            return r
        }
    }

    mutating func remove(_ r: Request) -> Bool {
        guard let i = items[head...].firstIndex(where: { $0 === r }) else { return false }
        items.remove(at: i)
        if policy == .priority { items.sort { Self.before($0, $1) } }  // keeps the heap property
        return true
    }

    var all: ArraySlice<Request> { items[head...] }

    private mutating func siftUp(_ i: Int) {
        var i = i
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.before(items[i], items[p]) else { return }
            items.swapAt(i, p)
            i = p
        }
    }

    private mutating func siftDown(_ i: Int) {
        var i = i
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, Self.before(items[l], items[m]) { m = l }
            if r < items.count, Self.before(items[r], items[m]) { m = r }
            if m == i { return }
            items.swapAt(i, m)
            i = m
        }
    }
}
