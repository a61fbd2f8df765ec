import Foundation
@testable import Server
import Testing
import StructuredOutput
import Tokenization

/// How tools and tool turns reach the chat template: as `tools` and `tool_calls` for a template
/// that knows them, in the Hermes format for one that does not.
@Suite struct ToolPromptTests {
    static let body = #"""
    {"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "21 C"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now.",
       "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}]}
    """#

    /// Qwen 2.5's way of writing tools and tool turns, shortened.
    static let toolTemplate = """
    {%- if tools %}<tools>{% for t in tools %}{{ t.function.name }}:{{ t.function.parameters | tojson }};{% endfor %}</tools>
    {% endif %}{%- for m in messages %}{%- if m.tool_calls %}[{{ m.role }}]{% for c in m.tool_calls %}<call {{ c.id }}>{{ c.function.name }} {{ c.function.arguments.city }}</call>{% endfor %}
    {% elif m.role == "tool" %}[tool {{ m.tool_call_id }}]{{ m.content }}
    {% else %}[{{ m.role }}]{{ m.content }}
    {% endif %}{%- endfor %}
    """

    static let plainTemplate = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"

    static func render(template: String) throws -> String {
        let request = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(Self.body.utf8))
        let plan = try ToolPlan(tools: request.tools, choice: nil, parallel: nil, raw: RawBody(Array(Self.body.utf8)))
        let (messages, variables) = try OpenAIServer.conversation(request.messages, tools: plan,
                                                                  templateKnowsTools: template.contains("tool_call"))
        return try ChatTemplate(source: template).apply(messages, addGenerationPrompt: false, variables: variables)
    }

    @Test func aTemplateThatKnowsToolsGetsThemAsTheyAre() throws {
        let text = try Self.render(template: Self.toolTemplate)
        // Parameters keep the order they were written in; arguments reach the template as an object.
        #expect(text.contains(#"<tools>get_weather:{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]};</tools>"#), "\(text)")
        #expect(text.contains("[assistant]<call call_1>get_weather Paris</call>"), "\(text)")
        #expect(text.contains("[tool call_1]21 C"), "\(text)")
    }

    @Test func aTemplateWithoutToolsGetsTheHermesFormat() throws {
        let text = try Self.render(template: Self.plainTemplate)
        #expect(text.hasPrefix("<|system|># Tools"), "\(text)")
        #expect(text.contains(#"<tools>\#n{"type":"function","function":{"name":"get_weather","description":"Weather now.","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}\#n</tools>"#), "\(text)")
        #expect(text.contains(#"<|assistant|><tool_call>\#n{"name": "get_weather", "arguments": {"city": "Paris"}}\#n</tool_call>"#), "\(text)")
        #expect(text.contains("<|user|><tool_response>\n21 C\n</tool_response>"), "\(text)")
    }

    @Test func requiredAndNamedChoicesBecomeSchemas() throws {
        let request = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(Self.body.utf8))
        let raw = RawBody(Array(Self.body.utf8))
        let required = try #require(try ToolPlan(tools: request.tools, choice: .required, parallel: false, raw: raw))
        guard case .json(let schema)? = required.constraint else { Issue.record("no schema"); return }
        #expect(schema.contains(#""maxItems":1"#) && schema.contains(#""const":"get_weather""#), "\(schema)")
        let named = try #require(try ToolPlan(tools: request.tools, choice: .named("get_weather"), parallel: nil, raw: raw))
        #expect(named.constraint == .json(schema: #"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}"#))
        let parsed = required.parse(#"[{"name": "get_weather", "parameters": {"city": "Paris"}}]"#, parser: HermesToolCallParser())
        #expect(parsed.toolCalls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        #expect(parsed.content == nil)
    }
}
