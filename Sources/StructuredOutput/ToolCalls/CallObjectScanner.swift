/// An incremental scanner of one call object, `{"name": "...", "arguments": {...}}`.
///
/// It validates the whole object, decodes `name`, and keeps the compact text of `arguments`
/// (or `parameters`, Llama's spelling) so the arguments can be streamed while they arrive. Other
/// members are validated and ignored. An `arguments` value that is itself a JSON string (as some
/// Mistral models write it) is decoded and, when it holds JSON, compacted.
struct CallObjectScanner {
    enum Step: Equatable { case needMore, complete, invalid }

    private enum State { case open, keyOrClose, key, colon, value, afterValue, done, failed }

    private var state: State = .open
    private var keyScanner = JSONValueScanner()
    private var keyIsFirst = true
    private var currentKey: String = ""
    private var valueScanner = JSONValueScanner()
    private var valueIsArguments = false

    /// The decoded function name, once its string has been read.
    private(set) var name: String?
    /// Scanner of the arguments value (while it is read and after).
    private var arguments: JSONValueScanner?
    private var argumentsTaken = 0

    mutating func consume(_ byte: UInt8) -> Step {
        switch state {
        case .done, .failed:
            state = .failed
            return .invalid
        case .open:
            if isJSONWhitespace(byte) { return .needMore }
            guard byte == UInt8(ascii: "{") else { return fail() }
            state = .keyOrClose
            return .needMore
        case .keyOrClose, .key:
            if keyScanner.output.isEmpty {
                if isJSONWhitespace(byte) { return .needMore }
                // `{}` has no name, so a closing brace here is never a call.
                guard byte == UInt8(ascii: "\"") else { return fail() }
            }
            switch keyScanner.consume(byte) {
            case .needMore: return .needMore
            case .complete:
                guard let key = decodeJSONString(keyScanner.output[...]) else { return fail() }
                currentKey = key
                keyScanner = JSONValueScanner()
                state = .colon
                return .needMore
            case .completeBefore, .invalid: return fail()
            }
        case .colon:
            if isJSONWhitespace(byte) { return .needMore }
            guard byte == UInt8(ascii: ":") else { return fail() }
            valueIsArguments = (currentKey == "arguments" || currentKey == "parameters") && arguments == nil
            valueScanner = JSONValueScanner()
            if valueIsArguments { arguments = JSONValueScanner() }
            state = .value
            return .needMore
        case .value:
            // The arguments scanner is advanced in place so its output is never copied.
            let step = valueIsArguments ? arguments!.consume(byte) : valueScanner.consume(byte)
            switch step {
            case .needMore: return .needMore
            case .invalid: return fail()
            case .complete:
                guard endMember() else { return fail() }
                state = .afterValue
                return .needMore
            case .completeBefore:
                guard endMember() else { return fail() }
                state = .afterValue
                return consume(byte)
            }
        case .afterValue:
            if isJSONWhitespace(byte) { return .needMore }
            if byte == UInt8(ascii: ",") { state = .key; return .needMore }
            if byte == UInt8(ascii: "}") {
                guard name != nil else { return fail() }
                state = .done
                return .complete
            }
            return fail()
        }
    }

    /// True between members: after a value and before the next `,` or `}`.
    var isBetweenMembers: Bool { if case .afterValue = state { true } else { false } }

    /// True once the closing brace of a call object with a name has been read.
    var isComplete: Bool { if case .done = state { true } else { false } }

    /// New compact argument bytes since the last call, while they can stream (the name is known
    /// and the arguments are not a string to decode); empty otherwise.
    mutating func takeStreamableArguments() -> ArraySlice<UInt8> {
        guard name != nil, let arguments, !arguments.isString else { return [] }
        let out = arguments.output
        var end = out.count
        // Never cut inside a UTF-8 sequence.
        var k = end
        while k > argumentsTaken, out[k - 1] & 0xC0 == 0x80 { k -= 1 }
        if k > argumentsTaken, out[k - 1] >= 0xC0 {
            let length = out[k - 1] >= 0xF0 ? 4 : out[k - 1] >= 0xE0 ? 3 : 2
            if end - (k - 1) < length { end = k - 1 }
        }
        guard end > argumentsTaken else { return [] }
        defer { argumentsTaken = end }
        return out[argumentsTaken..<end]
    }

    /// The rest of the arguments text once the object is complete: what has not streamed, `{}`
    /// when the object had no arguments, or the decoded (and compacted) string arguments.
    mutating func takeRemainingArguments() -> [UInt8] {
        guard let arguments else { return Array("{}".utf8) }
        if arguments.isString {
            guard let text = decodeJSONString(arguments.output[...]) else { return arguments.output }
            var inner = JSONValueScanner()
            var ok = true
            for byte in text.utf8 where ok {
                switch inner.consume(byte) {
                case .needMore, .complete: break
                case .completeBefore, .invalid: ok = false
                }
            }
            return ok && inner.finish() ? inner.output : arguments.output
        }
        defer { argumentsTaken = arguments.output.count }
        return Array(arguments.output[argumentsTaken...])
    }

    private mutating func endMember() -> Bool {
        if currentKey == "name" && name == nil {
            guard valueScanner.isString, let decoded = decodeJSONString(valueScanner.output[...]) else { return false }
            name = decoded
        }
        return true
    }

    private mutating func fail() -> Step {
        state = .failed
        return .invalid
    }
}
