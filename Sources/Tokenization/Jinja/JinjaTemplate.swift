/// A Jinja template parsed once and rendered many times: the subset of Jinja2 that model chat
/// templates use, with Hugging Face's settings (`trim_blocks`, `lstrip_blocks`, `tojson` without
/// HTML escaping, `raise_exception`, `strftime_now`).
///
/// Supported: `{{ }}`, `{% if/elif/else %}`, `{% for %}` (with `loop.*`, unpacking, an `if`
/// filter, `else`, `break`/`continue`), `{% set %}` (names, tuples, namespace attributes,
/// blocks), `{% macro %}`, comments, whitespace control; Python-like expressions (arithmetic,
/// comparisons, `in`, `~`, conditionals, slicing, string and dict methods) and the common filters
/// and tests. Anything else is refused when the template is parsed, with the line it is on.
///
/// ```swift
/// let template = try JinjaTemplate("{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}")
/// let text = try template.render(["messages": [["role": "user", "content": " Hi "]]])
/// // "user: Hi\n"
/// ```
public struct JinjaTemplate: Sendable {
    public let source: String
    private let nodes: [JinjaNode]

    /// Parses `source`; throws ``ChatTemplateError/syntax(message:line:)`` or
    /// ``ChatTemplateError/unsupported(feature:line:)``.
    public init(_ source: String) throws(ChatTemplateError) {
        self.source = source
        nodes = try JinjaParser.parse(source)
    }

    /// The text the template produces for `context` (its top-level variables), within `limits`.
    public func render(_ context: [String: JinjaValue], limits: JinjaLimits = .default) throws(ChatTemplateError) -> String {
        try JinjaRenderer.render(nodes, context: context, limits: limits)
    }
}
