/// Why a chat template could not be loaded or rendered.
public enum ChatTemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The template is not valid Jinja.
    case syntax(message: String, line: Int)
    /// The template uses Jinja that this interpreter does not implement (a tag, filter, test,
    /// function or method); the template is refused rather than rendered wrongly.
    case unsupported(feature: String, line: Int)
    /// The template called `raise_exception(message)`: the conversation does not suit the model
    /// (for example a system message where the model takes none).
    case raised(String)
    /// An operation failed while rendering (wrong types, a bad index).
    case runtime(message: String, line: Int)
    /// The render went past one of its ``JinjaLimits`` (a hostile or broken template).
    case limitExceeded(String, line: Int)
    /// The model has no chat template (a base model): chat needs one given by the caller
    /// (`--chat-template FILE`); plain completion works without.
    case missing

    public var description: String {
        switch self {
        case .syntax(let message, let line): "chat template syntax error on line \(line): \(message)"
        case .unsupported(let feature, let line): "chat template uses unsupported Jinja on line \(line): \(feature)"
        case .raised(let message): message
        case .runtime(let message, let line): "chat template error on line \(line): \(message)"
        case .limitExceeded(let what, let line): "chat template stopped on line \(line): it took \(what), past its limit"
        case .missing:
            "this model has no chat template (it is a base model): use plain completion, or give a template with --chat-template FILE"
        }
    }
}
