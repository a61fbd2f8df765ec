/// Scratch memory that keeps its largest size: `reserve` reallocates (doubling) only when asked
/// for more than it has, so steady-state forward passes allocate nothing. The owner calls
/// ``free()`` once, when it is done with it.
public struct ScratchBuffer<Element> {
    public private(set) var pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
    public private(set) var capacity = 1

    public init() {}

    /// Makes room for `count` elements; the contents are not kept.
    public mutating func reserve(_ count: Int) {
        if count <= capacity { return }
        pointer.deallocate()
        capacity = max(count, 2 * capacity)
        pointer = .allocate(capacity: capacity)
    }

    /// Makes room for `count` elements, keeping the contents (plain values only).
    public mutating func reserveKeeping(_ count: Int) {
        if count <= capacity { return }
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 2 * capacity))
        bigger.moveInitialize(from: pointer, count: capacity)
        pointer.deallocate()
        pointer = bigger
        capacity = max(count, 2 * capacity)
    }

    public subscript(i: Int) -> Element {
        get { pointer[i] }
        nonmutating set { pointer[i] = newValue }
    }

    public func free() { pointer.deallocate() }
}
