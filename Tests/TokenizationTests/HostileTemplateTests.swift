import Foundation
import Testing
import Tokenization

/// A chat template is code from the model file: hostile ones stop at a bound with a clear error,
/// never a hang, a crash or a huge allocation.
@Suite struct HostileTemplateTests {
    static func render(_ source: String, limits: JinjaLimits = .default) throws(ChatTemplateError) -> String {
        try JinjaTemplate(source).render(["messages": .array([])], limits: limits)
    }

    static func expectLimit(_ source: String, _ what: String, limits: JinjaLimits = .default, sourceLocation: SourceLocation = #_sourceLocation) {
        let start = Date()
        do {
            let text = try render(source, limits: limits)
            Issue.record("rendered \(text.utf8.count) bytes instead of stopping", sourceLocation: sourceLocation)
        } catch .limitExceeded(let message, _) {
            #expect(message.contains(what), "\(message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
        #expect(Date().timeIntervalSince(start) < 10, sourceLocation: sourceLocation)
    }

    @Test func infiniteRecursionStopsAtTheCallDepth() {
        Self.expectLimit("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested deeper than 64")
        // Two macros calling each other.
        Self.expectLimit("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", "nested deeper")
    }

    @Test func exponentialStringGrowthStopsAtTheStringLimit() {
        Self.expectLimit("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
                         "bytes")
        Self.expectLimit("{{ 'x' * 1000000000000 }}", "bytes")
        Self.expectLimit("{{ 'x' * 9223372036854775807 }}", "bytes")
        Self.expectLimit("{% set s = 'y' * 4000000 %}{{ s | replace('y', s) }}", "bytes")
        Self.expectLimit("{% set s = 'y' * 4000000 %}{{ [s, s, s] | join(s) }}", "bytes")
        Self.expectLimit("{{ 'a\\nb\\nc' | indent(4611686018427387904) }}", "bytes")
        // Output that only grows through plain text, in a loop.
        Self.expectLimit("{% for i in range(1000000) %}0123456789abcdefghij{% endfor %}", "bytes")
    }

    @Test func hugeListsAreRefusedBeforeTheyAreMade() {
        Self.expectLimit("{% for i in range(1000000000) %}{% endfor %}", "elements")
        Self.expectLimit("{{ range(-9223372036854775807, 9223372036854775807) | length }}", "elements")
        Self.expectLimit("{{ ([1] * 100000000) | length }}", "elements")
    }

    @Test func longLoopsStopAtTheStepLimit() {
        Self.expectLimit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "more than 100000 steps",
                         limits: JinjaLimits(maxSteps: 100_000, maxSeconds: 60))
    }

    @Test func slowRendersStopAtTheTimeLimit() {
        let limits = JinjaLimits(maxSteps: .max, maxSeconds: 0.05)
        Self.expectLimit("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "s", limits: limits)
    }

    @Test func deepNestingIsASyntaxError() {
        for source in ["{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
                       "{{ " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + " }}",
                       "{{ 1" + String(repeating: " + 1", count: 100_000) + " }}",
                       "{{ " + String(repeating: "not ", count: 100_000) + "x }}",
                       "{{ x" + String(repeating: ".a", count: 100_000) + " }}",
                       "{{ x" + String(repeating: " | trim", count: 100_000) + " }}",
                       String(repeating: "{% if true %}", count: 100_000) + String(repeating: "{% endif %}", count: 100_000)] {
            #expect {
                _ = try JinjaTemplate(source)
            } throws: { error in
                guard case ChatTemplateError.syntax(let message, _) = error else { return false }
                return message.contains("nested more than")
            }
        }
    }

    /// Operations that trap in Swift are errors (or wrap, as + - * do), never a crash.
    @Test func integerEdgeCasesDoNotTrap() throws {
        #expect(throws: ChatTemplateError.self) { try Self.render("{{ (-9223372036854775807 - 1) // -1 }}") }
        #expect(throws: ChatTemplateError.self) { try Self.render("{{ (-9223372036854775807 - 1) % -1 }}") }
        #expect(try Self.render("{{ -(-9223372036854775807 - 1) }}") == "-9223372036854775808")
    }

    /// Real templates stay far inside the bounds.
    @Test func ordinaryTemplatesAreUnaffected() throws {
        let text = try JinjaTemplate("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
            .render(["messages": .array((0..<2000).map { _ in .dictionary(["role": "user", "content": .string(String(repeating: "w", count: 500))]) })])
        #expect(text.utf8.count == 2000 * 507)
        #expect(try Self.render("{{ 2 ** 62 }} {{ 3 ** 1000000000000 }}").hasPrefix("4611686018427387904 "))
    }
}
