/// Scratch memory that keeps its largest size: `reserve` reallocates (doubling) only when asked
/// for more than it has, so steady-state forward passes allocate nothing.
struct ScratchBuffer<Element> {
    private(set) var pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
    private(set) var capacity = 1

    /// Makes room for `count` elements; the contents are not kept.
    mutating func reserve(_ count: Int) {
        if count <= capacity { return }
        pointer.deallocate()
        capacity = max(count, 2 * capacity)
        pointer = .allocate(capacity: capacity)
    }

    func free() { pointer.deallocate() }
}
