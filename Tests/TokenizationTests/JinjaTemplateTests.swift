import TestSupport
import Testing
import Tokenization

/// The Jinja interpreter against Jinja2: real model chat templates and one-feature snippets,
/// with expected text rendered by Jinja2 set up as Hugging Face's `apply_chat_template` does
/// (see Scripts/chat_template_fixtures.py).
@Suite struct JinjaTemplateTests {
    static let templateCases = ChatTemplateFixtures.templates.flatMap { t in t.cases.map { (t, $0) } }

    @Test(arguments: templateCases.indices)
    func realTemplateRendersAsJinja2(_ i: Int) throws {
        let (template, testCase) = Self.templateCases[i]
        var context = try #require(Self.object(testCase.context))
        context["bos_token"] = .string(template.bosToken)
        context["eos_token"] = .string(template.eosToken)
        let jinja = try JinjaTemplate(template.source)
        if let expected = testCase.expected {
            #expect(try jinja.render(context) == expected, "\(template.name): \(testCase.name)")
        } else {
            #expect(throws: ChatTemplateError.raised(testCase.error ?? "")) { try jinja.render(context) }
        }
    }

    @Test(arguments: ChatTemplateFixtures.templates.indices)
    func chatTemplateAppliesMessages(_ i: Int) throws {
        let fixture = ChatTemplateFixtures.templates[i]
        let template = try ChatTemplate(validating: fixture.source, bosToken: fixture.bosToken, eosToken: fixture.eosToken)
        for testCase in fixture.cases where !testCase.context.contains("tool") {
            let context = try #require(Self.object(testCase.context))
            guard case .array(let list)? = context["messages"], case .bool(let addGenerationPrompt)? = context["add_generation_prompt"] else {
                Issue.record("bad fixture")
                return
            }
            let messages = list.map { m in
                guard case .object(let o) = m else { return ChatMessage(role: "", content: "") }
                return ChatMessage(role: o["role"]?.text ?? "", content: o["content"]?.text ?? "")
            }
            if let expected = testCase.expected {
                #expect(try template.apply(messages, addGenerationPrompt: addGenerationPrompt) == expected, "\(fixture.name): \(testCase.name)")
            } else {
                #expect(throws: ChatTemplateError.raised(testCase.error ?? "")) {
                    try template.apply(messages, addGenerationPrompt: addGenerationPrompt)
                }
            }
        }
    }

    @Test(arguments: ChatTemplateFixtures.snippets.indices)
    func snippetRendersAsJinja2(_ i: Int) throws {
        let snippet = ChatTemplateFixtures.snippets[i]
        let context = try #require(Self.object(snippet.context))
        #expect(try JinjaTemplate(snippet.template).render(context) == snippet.expected, "\(snippet.template)")
    }

    @Test func unsupportedJinjaIsRefusedAtLoadWithItsLine() {
        #expect(throws: ChatTemplateError.unsupported(feature: "tag 'include'", line: 2)) { try JinjaTemplate("x\n{% include 'a' %}") }
        #expect(throws: ChatTemplateError.unsupported(feature: "filter 'wordcount'", line: 1)) { try JinjaTemplate("{{ m | wordcount }}") }
        #expect(throws: ChatTemplateError.unsupported(feature: "test 'escaped'", line: 1)) { try JinjaTemplate("{{ m is escaped }}") }
        #expect(throws: ChatTemplateError.unsupported(feature: "function 'cycler'", line: 1)) {
            try ChatTemplate(validating: "{{ cycler(1, 2) }}")
        }
        #expect(throws: ChatTemplateError.unsupported(feature: "method 'zfill' of string", line: 1)) {
            try ChatTemplate(validating: "{% for m in messages %}{{ m.content.zfill(3) }}{% endfor %}")
        }
    }

    @Test func syntaxErrorsNameTheirLine() {
        #expect(throws: ChatTemplateError.syntax(message: "missing 'endif'", line: 1)) { try JinjaTemplate("{% if x %}a") }
        #expect(throws: ChatTemplateError.syntax(message: "unterminated string", line: 2)) { try JinjaTemplate("a\n{{ 'b }}") }
        #expect(throws: ChatTemplateError.syntax(message: "unexpected 'endfor'", line: 1)) { try JinjaTemplate("{% endfor %}") }
        #expect(throws: ChatTemplateError.syntax(message: "missing end of comment tag", line: 1)) { try JinjaTemplate("{# x") }
        #expect { try JinjaTemplate("{{ 1 + }}") } throws: { "\($0)".contains("expected an expression") }
    }

    @Test func runtimeErrorsAreTyped() {
        #expect { try JinjaTemplate("{{ 'a' + 1 }}").render([:]) } throws: { error in
            guard case ChatTemplateError.runtime(let message, 1) = error else { return false }
            return message.contains("unsupported operand")
        }
        #expect(throws: ChatTemplateError.raised("no")) { try JinjaTemplate("{{ raise_exception('no') }}").render([:]) }
    }

    @Test func templateWithoutSourceIsAnError() throws {
        #expect(throws: ChatTemplateError.missing) { try ChatTemplate(source: nil).apply([.system("S"), .user("U")], addGenerationPrompt: true) }
    }

    /// A template that refuses a conversation is that refusal, with no ChatML fallback.
    @Test func aRefusingTemplateIsAnError() {
        let gemma = ChatTemplateFixtures.templates.first { $0.name == "Gemma" }!
        let template = ChatTemplate(source: gemma.source, bosToken: "<bos>", eosToken: "<eos>")
        #expect(throws: ChatTemplateError.raised("System role not supported")) {
            try template.apply([.system("S"), .user("U")], addGenerationPrompt: true)
        }
    }

    @Test func jsonRoundTripKeepsKeyOrder() throws {
        let value = try #require(JinjaValue(json: #"{"z": 1, "a": [true, null, 2.5, "é\n"], "m": {}}"#))
        #expect(try JinjaTemplate("{{ v | tojson }}").render(["v": value]) == #"{"z": 1, "a": [true, null, 2.5, "é\n"], "m": {}}"#)
        #expect(JinjaValue(json: "{") == nil)
        #expect(JinjaValue(json: "[1,]") == nil)
    }

    static func object(_ json: String) -> [String: JinjaValue]? {
        guard case .object(let o)? = JinjaValue(json: json) else { return nil }
        var context: [String: JinjaValue] = [:]
        for (key, value) in o { context[key] = value }
        return context
    }
}
