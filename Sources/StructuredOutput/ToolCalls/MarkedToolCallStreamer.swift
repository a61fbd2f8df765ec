/// The streamer behind every parser: a byte-level state machine over a ``ToolCallSyntax``.
///
/// Content outside calls streams as it arrives (minus a possible marker prefix, and minus
/// whitespace-only runs until real content follows). Inside a call the object is validated as it
/// arrives; the call starts once its name is read and its compact arguments stream after it. When a
/// call turns out malformed, the raw text of its region is released as content and everything after
/// it passes through; ``parse(_:syntax:)`` then returns the whole text as content, as vLLM does.
struct MarkedToolCallStreamer: ToolCallStreamer {
    private enum Mode {
        /// Looking for the start marker (Hermes, Mistral); a possible marker prefix is in `held`.
        case content
        /// Llama: before the first significant byte.
        case llamaStart
        /// Llama: matching `<|python_tag|>` (the matched bytes are in `held`).
        case llamaTag
        /// Everything is content (Llama plain output, or after a malformed call).
        case passthrough
        /// In a call region, before a call (after the marker, or after Llama's `;`).
        case beforeCall
        /// Mistral: after `[` or `,` in the call array.
        case arrayBeforeCall
        /// Reading a call object.
        case call
        /// After a call object.
        case afterCall
        /// Hermes: matching `</tool_call>` (the count of bytes matched).
        case endMarker(Int)
        /// Mistral `[TOOL_CALLS]name[ARGS]{…}`: reading the name, matching `[ARGS]`, reading arguments.
        case mistralName
        case mistralArgsMarker(Int)
        case mistralArgs
    }

    let syntax: ToolCallSyntax
    private var mode: Mode
    private var held: [UInt8] = []
    private var contentBuffer: [UInt8] = []
    private var heldWhitespace: [UInt8] = []
    private var contentEmitted = false
    private var deltas: [ToolCallDelta] = []
    /// Raw bytes of the current call region (marker included), released as content on failure.
    private var region: [UInt8] = []
    private var inRegion = false
    private var call = CallObjectScanner()
    private var callAnnounced = false
    private var callsInRegion = 0
    private var inArray = false
    private var mistralName: [UInt8] = []
    /// Index of the next call.
    private(set) var nextIndex = 0
    /// Whether a malformed call was met.
    private(set) var failed = false

    init(syntax: ToolCallSyntax) {
        self.syntax = syntax
        mode = syntax == .llama3JSON ? .llamaStart : .content
    }

    mutating func feed(_ delta: String) -> [ToolCallDelta] {
        for byte in delta.utf8 {
            if inRegion { region.append(byte) }
            process(byte)
        }
        pullArguments()
        flushContent()
        defer { deltas = [] }
        return deltas
    }

    mutating func finish() -> [ToolCallDelta] {
        switch mode {
        case .content, .llamaTag:
            contentBuffer += held
            held = []
        case .llamaStart, .passthrough, .afterCall, .endMarker:
            break
        case .beforeCall, .arrayBeforeCall:
            if callsInRegion == 0 { fail() }
        case .call, .mistralName, .mistralArgsMarker, .mistralArgs:
            fail()
        }
        flushContent()
        if contentEmitted && !heldWhitespace.isEmpty {
            deltas.append(.content(String(decoding: heldWhitespace, as: UTF8.self)))
            heldWhitespace = []
        }
        defer { deltas = [] }
        return deltas
    }

    /// Parses a whole output by streaming it in one piece.
    static func parse(_ text: String, syntax: ToolCallSyntax) -> ToolCallParseResult {
        var streamer = MarkedToolCallStreamer(syntax: syntax)
        let deltas = streamer.feed(text) + streamer.finish()
        if streamer.failed { return ToolCallParseResult(content: text, toolCalls: []) }
        return ToolCallParseResult(aggregating: deltas)
    }

    // MARK: - The state machine

    private mutating func process(_ byte: UInt8) {
        switch mode {
        case .passthrough:
            contentBuffer.append(byte)
        case .content:
            let marker = syntax == .mistral ? ToolCallSyntax.mistralStart : ToolCallSyntax.hermesStart
            held.append(byte)
            if held == marker {
                startRegion(marker)
                held = []
                mode = .beforeCall
            } else if !marker.starts(with: held) {
                // Release the bytes that can no longer begin the marker.
                var cut = 1
                while cut < held.count && !marker.starts(with: held[cut...]) { cut += 1 }
                contentBuffer += held[..<cut]
                held.removeFirst(cut)
            }
        case .llamaStart:
            if isJSONWhitespace(byte) {
                contentBuffer.append(byte)
            } else if byte == UInt8(ascii: "{") {
                startRegion([byte])
                beginCall(byte)
            } else if byte == UInt8(ascii: "<") {
                held = [byte]
                mode = .llamaTag
            } else {
                contentBuffer.append(byte)
                mode = .passthrough
            }
        case .llamaTag:
            held.append(byte)
            if held == ToolCallSyntax.llamaTag {
                startRegion(held)
                held = []
                mode = .beforeCall
            } else if !ToolCallSyntax.llamaTag.starts(with: held) {
                contentBuffer += held
                held = []
                mode = .passthrough
            }
        case .beforeCall:
            if isJSONWhitespace(byte) { return }
            switch (syntax, byte) {
            case (_, UInt8(ascii: "{")): beginCall(byte)
            case (.mistral, UInt8(ascii: "[")):
                inArray = true
                mode = .arrayBeforeCall
            case (.mistral, _) where Self.isNameByte(byte):
                mistralName = [byte]
                mode = .mistralName
            default: fail()
            }
        case .arrayBeforeCall:
            if isJSONWhitespace(byte) { return }
            if byte == UInt8(ascii: "{") {
                beginCall(byte)
            } else if byte == UInt8(ascii: "]") && callsInRegion == 0 {
                endRegion()
            } else {
                fail()
            }
        case .call:
            feedCall(byte)
        case .afterCall:
            if isJSONWhitespace(byte) { return }
            switch (syntax, byte) {
            case (.hermes, ToolCallSyntax.hermesEnd[0]): mode = .endMarker(1)
            case (.llama3JSON, UInt8(ascii: ";")): mode = .beforeCall
            case (.mistral, UInt8(ascii: ",")): mode = .arrayBeforeCall
            case (.mistral, UInt8(ascii: "]")): endRegion()
            default: fail()
            }
        case .endMarker(let matched):
            guard ToolCallSyntax.hermesEnd[matched] == byte else { return fail() }
            if matched + 1 == ToolCallSyntax.hermesEnd.count { endRegion() } else { mode = .endMarker(matched + 1) }
        case .mistralName:
            if byte == ToolCallSyntax.mistralArgs[0] {
                mode = .mistralArgsMarker(1)
            } else if Self.isNameByte(byte) {
                mistralName.append(byte)
            } else {
                fail()
            }
        case .mistralArgsMarker(let matched):
            guard ToolCallSyntax.mistralArgs[matched] == byte else { return fail() }
            guard matched + 1 == ToolCallSyntax.mistralArgs.count else {
                mode = .mistralArgsMarker(matched + 1)
                return
            }
            // Read `name[ARGS]{…}` as the call object `{"name":"name","arguments":{…}}`.
            call = CallObjectScanner()
            callAnnounced = false
            for synthetic in Array("{\"name\":\"".utf8) + mistralName + Array("\",\"arguments\":".utf8) {
                _ = call.consume(synthetic)
            }
            announceIfNamed()
            mode = .mistralArgs
        case .mistralArgs:
            feedCall(byte)
            if case .mistralArgs = mode, call.isBetweenMembers {
                feedCall(UInt8(ascii: "}"))
            }
        }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    private mutating func startRegion(_ marker: [UInt8]) {
        region = marker
        inRegion = true
        callsInRegion = 0
        inArray = false
    }

    private mutating func endRegion() {
        region = []
        inRegion = false
        mode = .content
    }

    private mutating func beginCall(_ byte: UInt8) {
        call = CallObjectScanner()
        callAnnounced = false
        mode = .call
        feedCall(byte)
    }

    private mutating func feedCall(_ byte: UInt8) {
        switch call.consume(byte) {
        case .needMore:
            announceIfNamed()
        case .invalid:
            fail()
        case .complete:
            announceIfNamed()
            let rest = call.takeRemainingArguments()
            if !rest.isEmpty { deltas.append(.arguments(index: nextIndex, fragment: String(decoding: rest, as: UTF8.self))) }
            nextIndex += 1
            callsInRegion += 1
            if syntax == .mistral && !inArray { endRegion() } else { mode = .afterCall }
        }
    }

    private mutating func announceIfNamed() {
        guard !callAnnounced, let name = call.name else { return }
        flushContent()
        deltas.append(.toolCallStart(index: nextIndex, id: nil, name: name))
        callAnnounced = true
    }

    private mutating func pullArguments() {
        switch mode {
        case .call, .mistralArgs:
            let fragment = call.takeStreamableArguments()
            if !fragment.isEmpty { deltas.append(.arguments(index: nextIndex, fragment: String(decoding: fragment, as: UTF8.self))) }
        default: break
        }
    }

    /// A malformed call: its raw text becomes content and the rest of the output passes through.
    private mutating func fail() {
        contentBuffer += region
        region = []
        inRegion = false
        failed = true
        mode = .passthrough
    }

    private mutating func flushContent() {
        guard !contentBuffer.isEmpty else { return }
        if contentBuffer.allSatisfy(isJSONWhitespace) {
            heldWhitespace += contentBuffer
        } else {
            deltas.append(.content(String(decoding: heldWhitespace + contentBuffer, as: UTF8.self)))
            heldWhitespace = []
            contentEmitted = true
        }
        contentBuffer = []
    }
}

extension ToolCallParseResult {
    /// Gathers streamed deltas into a result: content joined (`nil` when empty), each call's
    /// argument fragments joined.
    init(aggregating deltas: [ToolCallDelta]) {
        var content = ""
        var calls: [ParsedToolCall] = []
        for delta in deltas {
            switch delta {
            case .content(let text): content += text
            case .toolCallStart(let index, _, let name):
                while calls.count <= index { calls.append(ParsedToolCall(name: "", arguments: "")) }
                calls[index].name = name
            case .arguments(let index, let fragment):
                while calls.count <= index { calls.append(ParsedToolCall(name: "", arguments: "")) }
                calls[index].arguments += fragment
            }
        }
        self.init(content: content.utf8.allSatisfy(isJSONWhitespace) ? nil : content, toolCalls: calls)
    }
}
