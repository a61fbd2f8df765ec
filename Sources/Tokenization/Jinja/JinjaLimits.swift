#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bounds on one render of a template: a chat template is code inside a model file from anyone,
/// so its loops, recursion, values and time are all capped. Going past a bound stops the render
/// with ``ChatTemplateError/limitExceeded(_:line:)``; it never hangs or exhausts memory.
/// The defaults leave real templates (tool schemas, long conversations) far inside them.
public struct JinjaLimits: Sendable, Equatable {
    /// Statements run, loop iterations and macro calls, together.
    public var maxSteps = 1_000_000
    /// Macros calling macros.
    public var maxCallDepth = 64
    /// Bytes of the output, and of any one string value.
    public var maxStringBytes = 8 << 20
    /// Elements of any one list (`range()`, `*`, `+`).
    public var maxListElements = 1_000_000
    /// Wall-clock time of one render.
    public var maxSeconds = 2.0

    public init(maxSteps: Int = 1_000_000, maxCallDepth: Int = 64, maxStringBytes: Int = 8 << 20,
                maxListElements: Int = 1_000_000, maxSeconds: Double = 2.0) {
        self.maxSteps = maxSteps
        self.maxCallDepth = maxCallDepth
        self.maxStringBytes = maxStringBytes
        self.maxListElements = maxListElements
        self.maxSeconds = maxSeconds
    }

    public static let `default` = JinjaLimits()

    /// Nesting of expressions and blocks the parser accepts (each level is a frame when it runs).
    static let maxNesting = 128
}

/// What one render has spent of its ``JinjaLimits``.
struct JinjaBudget {
    let limits: JinjaLimits
    private(set) var steps = 0
    var callDepth = 0
    private let deadline: UInt64

    init(_ limits: JinjaLimits) {
        self.limits = limits
        deadline = Self.now() &+ UInt64(max(0, min(limits.maxSeconds, 1e6)) * 1e9)
    }

    /// Counts one step; checks the clock every 1,024.
    mutating func step(line: Int) throws(ChatTemplateError) {
        steps += 1
        guard steps <= limits.maxSteps else { throw .limitExceeded("more than \(limits.maxSteps) steps", line: line) }
        if steps & 1023 == 0, Self.now() > deadline {
            throw .limitExceeded("more than \(limits.maxSeconds) s", line: line)
        }
    }

    /// Refuses a string of `bytes` bytes (before it is made, where the size is known first).
    func checkString(bytes: Int, line: Int) throws(ChatTemplateError) {
        guard bytes <= limits.maxStringBytes else {
            throw .limitExceeded("a string of more than \(limits.maxStringBytes) bytes", line: line)
        }
    }

    func checkList(count: Int, line: Int) throws(ChatTemplateError) {
        guard count <= limits.maxListElements else {
            throw .limitExceeded("a list of more than \(limits.maxListElements) elements", line: line)
        }
    }

    /// Checks a value just made.
    func check(_ value: JinjaValue, line: Int) throws(ChatTemplateError) {
        switch value {
        case .string(let s): try checkString(bytes: s.utf8.count, line: line)
        case .array(let a): try checkList(count: a.count, line: line)
        default: break
        }
    }

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }
}
