/// Builds the statement tree of a template from its tokens, with Jinja2's operator precedence.
/// Tags, filters and tests outside the supported subset are refused here, at load.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var index = 0
    /// Nesting of what is being parsed: each level becomes a level of the tree, walked
    /// recursively when the template runs, so hostile nesting is refused here.
    private var depth = 0

    static func parse(_ source: String) throws(ChatTemplateError) -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try parser.parseBody(until: [])
        if let end { throw .syntax(message: "unexpected '\(end)'", line: parser.line) }
        return body
    }

    private init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: - Token helpers

    private var current: JinjaToken.Kind { tokens[index].kind }
    private var line: Int { tokens[index].line }

    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    /// One level deeper (callers restore `depth` when they return).
    private mutating func deepen() throws(ChatTemplateError) {
        depth += 1
        guard depth <= JinjaLimits.maxNesting else {
            throw .syntax(message: "expressions or blocks nested more than \(JinjaLimits.maxNesting) deep", line: line)
        }
    }

    private func isSymbol(_ s: String) -> Bool { current == .symbol(s) }
    private func isName(_ s: String) -> Bool { current == .name(s) }

    private mutating func skip(symbol s: String) -> Bool {
        guard isSymbol(s) else { return false }
        advance()
        return true
    }

    private mutating func skip(name s: String) -> Bool {
        guard isName(s) else { return false }
        advance()
        return true
    }

    private mutating func expect(symbol s: String) throws(ChatTemplateError) {
        guard skip(symbol: s) else { throw unexpected(expected: "'\(s)'") }
    }

    private mutating func expectBlockEnd() throws(ChatTemplateError) {
        guard current == .blockEnd else { throw unexpected(expected: "end of tag '%}'") }
        advance()
    }

    private mutating func expectName() throws(ChatTemplateError) -> String {
        guard case .name(let n) = current else { throw unexpected(expected: "a name") }
        advance()
        return n
    }

    private func unexpected(expected: String) -> ChatTemplateError {
        .syntax(message: "expected \(expected), found \(describe(current))", line: line)
    }

    private func describe(_ kind: JinjaToken.Kind) -> String {
        switch kind {
        case .text: "text"
        case .variableBegin: "'{{'"
        case .variableEnd: "'}}'"
        case .blockBegin: "'{%'"
        case .blockEnd: "'%}'"
        case .name(let n): "'\(n)'"
        case .string(let s): "string '\(s)'"
        case .integer(let i): "\(i)"
        case .float(let d): "\(d)"
        case .symbol(let s): "'\(s)'"
        case .endOfInput: "end of template"
        }
    }

    // MARK: - Statements

    /// Parses nodes until a block tag whose name is in `ends`; returns that name (its `{% name`
    /// consumed, the rest of the tag not), or nil at the end of input.
    private mutating func parseBody(until ends: Set<String>) throws(ChatTemplateError) -> ([JinjaNode], String?) {
        let saved = depth
        defer { depth = saved }
        try deepen()
        var nodes: [JinjaNode] = []
        while true {
            switch current {
            case .endOfInput:
                return (nodes, nil)
            case .text(let s):
                nodes.append(.text(s))
                advance()
            case .variableBegin:
                let start = line
                advance()
                let expression = try parseExpression()
                guard current == .variableEnd else { throw unexpected(expected: "end of expression '}}'") }
                advance()
                nodes.append(.output(expression, line: start))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current else { throw unexpected(expected: "a tag name") }
                if ends.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                if let node = try parseStatement(tag) { nodes.append(node) }
            default:
                throw unexpected(expected: "text or a tag")
            }
        }
    }

    private mutating func parseStatement(_ tag: String) throws(ChatTemplateError) -> JinjaNode? {
        let start = line
        advance()
        switch tag {
        case "if": return try parseIf(line: start)
        case "for": return try parseFor(line: start)
        case "set": return try parseSet(line: start)
        case "macro": return try parseMacro(line: start)
        case "break", "continue":
            try expectBlockEnd()
            return tag == "break" ? .breakLoop(line: start) : .continueLoop(line: start)
        case "generation":
            // Hugging Face's marker for assistant-token masks: renders its body unchanged.
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["endgeneration"])
            guard end != nil else { throw .syntax(message: "missing 'endgeneration'", line: start) }
            try expectBlockEnd()
            return .ifBlock(branches: [(.literal(true), body)], otherwise: [], line: start)
        case "endif", "endfor", "endset", "endmacro", "elif", "else", "endgeneration":
            throw .syntax(message: "unexpected '\(tag)'", line: start)
        default:
            throw .unsupported(feature: "tag '\(tag)'", line: start)
        }
    }

    private mutating func parseIf(line start: Int) throws(ChatTemplateError) -> JinjaNode {
        var branches: [(condition: JinjaExpression, body: [JinjaNode])] = []
        var condition = try parseExpression()
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try parseExpression()
            case "else":
                try expectBlockEnd()
                let (otherwise, end) = try parseBody(until: ["endif"])
                guard end != nil else { throw .syntax(message: "missing 'endif'", line: start) }
                try expectBlockEnd()
                return .ifBlock(branches: branches, otherwise: otherwise, line: start)
            case "endif":
                try expectBlockEnd()
                return .ifBlock(branches: branches, otherwise: [], line: start)
            default:
                throw .syntax(message: "missing 'endif'", line: start)
            }
        }
    }

    private mutating func parseFor(line start: Int) throws(ChatTemplateError) -> JinjaNode {
        var targets = [try expectName()]
        while skip(symbol: ",") { targets.append(try expectName()) }
        guard skip(name: "in") else { throw unexpected(expected: "'in'") }
        let iterable = try parseExpression(allowConditional: false)
        var condition: JinjaExpression?
        if skip(name: "if") { condition = try parseExpression() }
        if isName("recursive") { throw .unsupported(feature: "recursive loops", line: start) }
        try expectBlockEnd()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [JinjaNode] = []
        if end == "else" {
            try expectBlockEnd()
            let (elseBody, elseEnd) = try parseBody(until: ["endfor"])
            guard elseEnd != nil else { throw .syntax(message: "missing 'endfor'", line: start) }
            otherwise = elseBody
        } else if end == nil {
            throw .syntax(message: "missing 'endfor'", line: start)
        }
        try expectBlockEnd()
        return .forLoop(JinjaForLoop(targets: targets, iterable: iterable, condition: condition, body: body,
                                     otherwise: otherwise, line: start))
    }

    private mutating func parseSet(line start: Int) throws(ChatTemplateError) -> JinjaNode {
        let first = try expectName()
        var target = JinjaAssignmentTarget.name(first)
        if skip(symbol: ".") {
            target = .attribute(first, try expectName())
        } else if isSymbol(",") {
            var names = [first]
            while skip(symbol: ",") { names.append(try expectName()) }
            target = .names(names)
        }
        if current == .blockEnd, case .name(let name) = target {
            advance()
            let (body, end) = try parseBody(until: ["endset"])
            guard end != nil else { throw .syntax(message: "missing 'endset'", line: start) }
            try expectBlockEnd()
            return .setBlock(name: name, body: body, line: start)
        }
        try expect(symbol: "=")
        let value = try parseTupleOrExpression()
        try expectBlockEnd()
        return .set(target: target, value: value, line: start)
    }

    private mutating func parseMacro(line start: Int) throws(ChatTemplateError) -> JinjaNode {
        let name = try expectName()
        try expect(symbol: "(")
        var parameters: [(name: String, defaultValue: JinjaExpression?)] = []
        while !skip(symbol: ")") {
            if !parameters.isEmpty { try expect(symbol: ",") }
            let parameter = try expectName()
            parameters.append((parameter, skip(symbol: "=") ? try parseExpression() : nil))
        }
        try expectBlockEnd()
        let (body, end) = try parseBody(until: ["endmacro"])
        guard end != nil else { throw .syntax(message: "missing 'endmacro'", line: start) }
        try expectBlockEnd()
        return .macro(JinjaMacro(name: name, parameters: parameters, body: body, line: start))
    }

    // MARK: - Expressions

    /// `a, b` (a tuple, as a list) or a single expression.
    private mutating func parseTupleOrExpression() throws(ChatTemplateError) -> JinjaExpression {
        let first = try parseExpression()
        guard isSymbol(",") else { return first }
        var items = [first]
        while skip(symbol: ",") {
            if current == .blockEnd || current == .variableEnd { break }
            items.append(try parseExpression())
        }
        return .list(items)
    }

    private mutating func parseExpression(allowConditional: Bool = true) throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        try deepen()
        let value = try parseOr()
        guard allowConditional, skip(name: "if") else { return value }
        let condition = try parseOr()
        let otherwise = skip(name: "else") ? try parseExpression() : nil
        return .conditional(then: value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseAnd()
        while skip(name: "or") {
            try deepen()
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseNot()
        while skip(name: "and") {
            try deepen()
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        if skip(name: "not") {
            try deepen()
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    /// `a < b <= c` means `a < b and b <= c`, as in Python.
    private mutating func parseComparison() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseAdditive()
        var chain: JinjaExpression?
        while true {
            let op: String
            if case .symbol(let s) = current, ["==", "!=", "<", ">", "<=", ">="].contains(s) {
                advance()
                op = s
            } else if skip(name: "in") {
                op = "in"
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                advance()
                advance()
                op = "not in"
            } else {
                return chain ?? left
            }
            try deepen()
            let right = try parseAdditive()
            let comparison = JinjaExpression.binary(op, left, right)
            chain = chain.map { .and($0, comparison) } ?? comparison
            left = right
        }
    }

    private mutating func parseAdditive() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseConcat()
        while case .symbol(let s) = current, s == "+" || s == "-" {
            advance()
            try deepen()
            left = .binary(s, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseMultiplicative()
        while skip(symbol: "~") {
            try deepen()
            left = .binary("~", left, try parseMultiplicative())
        }
        return left
    }

    private mutating func parseMultiplicative() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parsePower()
        while case .symbol(let s) = current, ["*", "/", "//", "%"].contains(s) {
            advance()
            try deepen()
            left = .binary(s, left, try parsePower())
        }
        return left
    }

    private mutating func parsePower() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var left = try parseUnary()
        while skip(symbol: "**") {
            try deepen()
            left = .binary("**", left, try parseUnary())
        }
        return left
    }

    private mutating func parseUnary() throws(ChatTemplateError) -> JinjaExpression {
        if skip(symbol: "-") { return try parseFilters(.negate(try parseUnaryOperand())) }
        if skip(symbol: "+") { return try parseFilters(try parseUnaryOperand()) }
        return try parseFilters(try parsePostfix(try parsePrimary()))
    }

    private mutating func parseUnaryOperand() throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        if skip(symbol: "-") {
            try deepen()
            return .negate(try parseUnaryOperand())
        }
        return try parsePostfix(try parsePrimary())
    }

    private mutating func parsePrimary() throws(ChatTemplateError) -> JinjaExpression {
        let kind = current
        switch kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(true)
            case "false", "False": return .literal(false)
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current {
                s += more
                advance()
            }
            return .literal(.string(s))
        case .integer(let i):
            advance()
            return .literal(.int(i))
        case .float(let d):
            advance()
            return .literal(.double(d))
        case .symbol("("):
            advance()
            if skip(symbol: ")") { return .list([]) }
            let inner = try parseTupleOrExpressionInParentheses()
            try expect(symbol: ")")
            return inner
        case .symbol("["):
            advance()
            var items: [JinjaExpression] = []
            while !skip(symbol: "]") {
                if !items.isEmpty { try expect(symbol: ",") }
                if skip(symbol: "]") { break }
                items.append(try parseExpression())
            }
            return .list(items)
        case .symbol("{"):
            advance()
            var pairs: [(key: JinjaExpression, value: JinjaExpression)] = []
            while !skip(symbol: "}") {
                if !pairs.isEmpty { try expect(symbol: ",") }
                if skip(symbol: "}") { break }
                let key = try parseExpression()
                try expect(symbol: ":")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs)
        default:
            throw unexpected(expected: "an expression")
        }
    }

    private mutating func parseTupleOrExpressionInParentheses() throws(ChatTemplateError) -> JinjaExpression {
        let first = try parseExpression()
        guard isSymbol(",") else { return first }
        var items = [first]
        while skip(symbol: ",") {
            if isSymbol(")") { break }
            items.append(try parseExpression())
        }
        return .list(items)
    }

    private mutating func parsePostfix(_ base: JinjaExpression) throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var expression = base
        while true {
            try deepen()
            if skip(symbol: ".") {
                switch current {
                case .name(let n):
                    advance()
                    expression = .attribute(expression, n)
                case .integer(let i):
                    advance()
                    expression = .item(expression, .literal(.int(i)))
                default:
                    throw unexpected(expected: "an attribute name")
                }
            } else if skip(symbol: "[") {
                expression = try parseSubscript(expression)
            } else if skip(symbol: "(") {
                expression = .call(expression, try parseArguments())
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: JinjaExpression) throws(ChatTemplateError) -> JinjaExpression {
        var parts: [JinjaExpression?] = [nil]
        var sawColon = false
        while !skip(symbol: "]") {
            if skip(symbol: ":") {
                sawColon = true
                parts.append(nil)
                guard parts.count <= 3 else { throw .syntax(message: "too many ':' in slice", line: line) }
            } else {
                guard parts[parts.count - 1] == nil else { throw unexpected(expected: "']'") }
                parts[parts.count - 1] = try parseExpression()
            }
        }
        guard sawColon else {
            guard let key = parts[0] else { throw .syntax(message: "empty subscript", line: line) }
            return .item(base, key)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, start: parts[0], stop: parts[1], step: parts[2])
    }

    /// Arguments after `(`, through `)`.
    private mutating func parseArguments() throws(ChatTemplateError) -> JinjaArguments {
        var arguments = JinjaArguments()
        while !skip(symbol: ")") {
            if !arguments.positional.isEmpty || !arguments.keyword.isEmpty { try expect(symbol: ",") }
            if skip(symbol: ")") { break }
            if case .name(let n) = current, index + 1 < tokens.count, tokens[index + 1].kind == .symbol("=") {
                advance()
                advance()
                arguments.keyword.append((n, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else {
                    throw .syntax(message: "positional argument after keyword argument", line: line)
                }
                arguments.positional.append(try parseExpression())
            }
        }
        return arguments
    }

    /// `| filter(args)` and `is [not] test(args)` after an operand.
    private mutating func parseFilters(_ base: JinjaExpression) throws(ChatTemplateError) -> JinjaExpression {
        let saved = depth
        defer { depth = saved }
        var expression = base
        while true {
            try deepen()
            if skip(symbol: "|") {
                let start = line
                let name = try expectName()
                guard JinjaFilters.names.contains(name) else { throw .unsupported(feature: "filter '\(name)'", line: start) }
                let arguments = skip(symbol: "(") ? try parseArguments() : JinjaArguments()
                expression = .filter(expression, name: name, arguments)
            } else if skip(name: "is") {
                let start = line
                let negated = skip(name: "not")
                var name = try expectName()
                if name == "None" || name == "True" || name == "False" { name = name.lowercased() }
                guard JinjaTests.names.contains(name) else { throw .unsupported(feature: "test '\(name)'", line: start) }
                var arguments = JinjaArguments()
                if skip(symbol: "(") {
                    arguments = try parseArguments()
                } else if startsTestArgument {
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                expression = .test(expression, name: name, arguments, negated: negated)
            } else {
                return expression
            }
        }
    }

    /// Jinja2 lets a test take one argument without parentheses: `x is divisibleby 3`.
    private var startsTestArgument: Bool {
        switch current {
        case .string, .integer, .float, .symbol("["), .symbol("{"): return true
        case .name(let n): return !["else", "or", "and", "if", "not", "in", "is"].contains(n)
        default: return false
        }
    }
}
