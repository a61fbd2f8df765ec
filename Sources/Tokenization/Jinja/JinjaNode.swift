/// An expression in a Jinja template.
indirect enum JinjaExpression: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpression])
    case dict([(key: JinjaExpression, value: JinjaExpression)])
    case attribute(JinjaExpression, String)
    case item(JinjaExpression, JinjaExpression)
    case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
    case call(JinjaExpression, JinjaArguments)
    case filter(JinjaExpression, name: String, JinjaArguments)
    case test(JinjaExpression, name: String, JinjaArguments, negated: Bool)
    case not(JinjaExpression)
    case negate(JinjaExpression)
    case and(JinjaExpression, JinjaExpression)
    case or(JinjaExpression, JinjaExpression)
    /// Arithmetic, comparison, `in`, `not in` and `~`.
    case binary(String, JinjaExpression, JinjaExpression)
    case conditional(then: JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

/// Positional and keyword arguments of a call, filter or test.
struct JinjaArguments: Sendable {
    var positional: [JinjaExpression] = []
    var keyword: [(name: String, value: JinjaExpression)] = []
}

/// A statement (or text) of a Jinja template; `line` is where it starts, for errors.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpression, line: Int)
    case ifBlock(branches: [(condition: JinjaExpression, body: [JinjaNode])], otherwise: [JinjaNode], line: Int)
    case forLoop(JinjaForLoop)
    case set(target: JinjaAssignmentTarget, value: JinjaExpression, line: Int)
    case setBlock(name: String, body: [JinjaNode], line: Int)
    case macro(JinjaMacro)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

struct JinjaForLoop: Sendable {
    var targets: [String]
    var iterable: JinjaExpression
    var condition: JinjaExpression?
    var body: [JinjaNode]
    var otherwise: [JinjaNode]
    var line: Int
}

struct JinjaMacro: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: JinjaExpression?)]
    var body: [JinjaNode]
    var line: Int
}

/// The left side of `{% set %}`.
enum JinjaAssignmentTarget: Sendable {
    case name(String)
    case names([String])
    /// `ns.attribute` of a namespace.
    case attribute(String, String)
}
