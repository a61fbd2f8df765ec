/// Splits text into words before byte-level BPE, choosing its rules by `tokenizer.ggml.pre`
/// exactly as llama.cpp's `llama-vocab.cpp` does.
///
/// llama.cpp applies a list of regular expressions one after another: each splits every piece
/// made so far into its matches and the gaps between them. The rules here are hand-written
/// matchers for those expressions, following llama.cpp's own hand-written ones
/// (`unicode_regex_split_custom_gpt2`, `…_llama3`) where it has them:
///
/// | `tokenizer.ggml.pre` | llama.cpp expressions |
/// |---|---|
/// | `default`, missing | `[\p{P}\$\+<=>\^~\|]+`, GPT-2, `\p{N}+`, `[0-9][0-9][0-9]` |
/// | `gpt-2`, `phi-2`, `mpt`, `olmo`, `jais`, `jina-*`, `roberta-bpe`, … | GPT-2 |
/// | `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`, `minerva-7b` | `\p{N}`, GPT-2 |
/// | `llama3`, `llama-bpe`, `falcon3`, `pixtral`, … | Llama 3 (whole words found in the vocabulary skip merging) |
/// | `dbrx`, `smaug-bpe` | Llama 3 |
/// | `qwen2`, `deepseek-r1-qwen`, `megrez` | Llama 3 with single digits (`\p{N}` for `\p{N}{1,3}`) |
/// | `falcon` | the default's first expression with the backtick added, GPT-2, `[0-9][0-9][0-9]` |
///
/// GPT-2 is `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`; Llama 3 is
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// (case-insensitive in ASCII only, as llama.cpp's adapted form `'[sS]|'[tT]|…`).
///
/// Characters are classified by ``CharacterClass`` (Swift's Unicode tables); a character whose
/// category changed between Unicode versions may split differently from llama.cpp's tables.
struct PreTokenizer: Sendable {
    /// One splitting pass.
    enum Rule: Sendable, Equatable {
        /// The GPT-2 expression.
        case gpt2
        /// The Llama 3 expression with digit groups of at most `maxDigits`.
        case llama3(maxDigits: Int)
        /// `\p{N}`: every number character on its own.
        case singleNumbers
        /// `\p{N}+`: runs of number characters.
        case numberRuns
        /// `[\p{P}\$\+<=>\^~\|]+` (plus the backtick when `withBacktick`).
        case punctuationRuns(withBacktick: Bool)
        /// `[0-9][0-9][0-9]`: groups of three ASCII digits, from the left.
        case asciiDigitTriples
    }

    let rules: [Rule]
    /// Whether a word found whole in the vocabulary is emitted without merging (llama.cpp's `ignore_merges`).
    let ignoresMerges: Bool
    /// Whether llama.cpp adds BOS for this pre-tokenizer when `add_bos_token` is absent.
    let addsBOSByDefault: Bool

    init(named name: String) throws(TokenizerError) {
        var ignoresMerges = false
        var addsBOS = false
        switch name {
        case "default", "":
            rules = [.punctuationRuns(withBacktick: false), .gpt2, .numberRuns, .asciiDigitTriples]
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code",
             "roberta-bpe", "mpt", "olmo", "jais":
            rules = [.gpt2]
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            rules = [.singleNumbers, .gpt2]
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2":
            rules = [.llama3(maxDigits: 3)]
            ignoresMerges = true
            addsBOS = true
        case "dbrx", "smaug-bpe":
            rules = [.llama3(maxDigits: 3)]
        case "qwen2", "deepseek-r1-qwen", "megrez":
            rules = [.llama3(maxDigits: 1)]
        case "falcon":
            rules = [.punctuationRuns(withBacktick: true), .gpt2, .asciiDigitTriples]
        default:
            throw .unsupportedPreTokenizer(name)
        }
        self.ignoresMerges = ignoresMerges
        self.addsBOSByDefault = addsBOS
    }

    /// The word boundaries of `text`: unit indices `0 = b₀ < b₁ < … < bₖ = text.count`.
    func split(_ text: TextUnits) -> [Int] {
        guard text.count > 0 else { return [0] }
        var boundaries = [0, text.count]
        var matcher = Matcher(text: text)
        for rule in rules {
            matcher.boundaries.removeAll(keepingCapacity: true)
            matcher.boundaries.append(0)
            for i in 0..<(boundaries.count - 1) {
                matcher.start = boundaries[i]
                matcher.end = boundaries[i + 1]
                matcher.run(rule)
            }
            swap(&boundaries, &matcher.boundaries)
        }
        return boundaries
    }
}

/// Runs one rule over one piece `start..<end`, appending the end of every word it finds.
private struct Matcher {
    let scalars: [UInt32]
    let classes: [CharacterClass]
    var start = 0
    var end = 0
    var boundaries: [Int] = []

    init(text: TextUnits) {
        scalars = text.scalars
        classes = text.classes
        boundaries.reserveCapacity(text.count / 3 + 2)
    }

    /// The scalar at `i`, or `nil` outside the piece.
    func scalar(_ i: Int) -> UInt32? { i < end ? scalars[i] : nil }
    /// The classes at `i`, empty outside the piece.
    func classes(_ i: Int) -> CharacterClass { i < end ? classes[i] : [] }

    mutating func emit(_ i: Int) {
        if i > boundaries[boundaries.count - 1] { boundaries.append(i) }
    }

    mutating func run(_ rule: PreTokenizer.Rule) {
        switch rule {
        case .gpt2: gpt2()
        case .llama3(let maxDigits): llama3(maxDigits: maxDigits)
        case .singleNumbers: runs(maxLength: 1) { $1.contains(.number) }
        case .numberRuns: runs(maxLength: .max) { $1.contains(.number) }
        case .punctuationRuns(let withBacktick):
            runs(maxLength: .max) { scalar, classes in
                if classes.contains(.punctuation) { return true }
                switch scalar {
                case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true  // $ + < = > ^ ~ |
                case 0x60: return withBacktick
                default: return false
                }
            }
        case .asciiDigitTriples:
            var i = start
            while i + 3 <= end {
                if (i..<(i + 3)).allSatisfy({ (0x30...0x39).contains(scalars[$0]) }) {
                    emit(i)
                    emit(i + 3)
                    i += 3
                } else {
                    i += 1
                }
            }
        }
        emit(end)
    }

    /// Splits off maximal runs (of at most `maxLength` units) of matching characters; gaps stay words.
    mutating func runs(maxLength: Int, _ matches: (UInt32, CharacterClass) -> Bool) {
        var i = start
        while i < end {
            guard matches(scalars[i], classes[i]) else { i += 1; continue }
            emit(i)
            let runStart = i
            while i < end && i - runStart < maxLength && matches(scalars[i], classes[i]) { i += 1 }
            emit(i)
        }
    }

    /// Whether `s` is the start of an English contraction (`'s`, `'t`, `'re`, …) at `i`; returns
    /// its length. `caseInsensitive` for the Llama 3 expression.
    func contraction(at i: Int, caseInsensitive: Bool) -> Int? {
        guard scalars[i] == 0x27, var c1 = scalar(i + 1) else { return nil }
        func lower(_ c: UInt32) -> UInt32 { caseInsensitive && (0x41...0x5A).contains(c) ? c + 32 : c }
        c1 = lower(c1)
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        guard let c2 = scalar(i + 2).map(lower) else { return nil }
        switch (c1, c2) {
        case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return 3  // re ve ll
        default: return nil
        }
    }

    /// Words of whitespace: `\s+(?!\S)` then `\s+`. Returns the end of the word starting at `pos`.
    func whitespaceEnd(at pos: Int) -> Int? {
        var n = 0
        while classes(pos + n).contains(.whitespace) { n += 1 }
        if n > 1 && pos + n < end { return pos + n - 1 }
        return n > 0 ? pos + n : nil
    }

    /// llama.cpp's `unicode_regex_split_custom_gpt2`.
    mutating func gpt2() {
        let nonWord: CharacterClass = [.whitespace, .letter, .number]
        var pos = start
        while pos < end {
            if let length = contraction(at: pos, caseInsensitive: false) {
                pos += length
                emit(pos)
                continue
            }
            let isSpace = scalars[pos] == 0x20
            var next = isSpace ? classes(pos + 1) : classes[pos]
            if next.contains(.letter) || next.contains(.number) {
                let kind: CharacterClass = next.contains(.letter) ? .letter : .number
                if isSpace { pos += 1 }
                while next.contains(kind) { pos += 1; next = classes(pos) }
                emit(pos)
                continue
            }
            if next.isDisjoint(with: nonWord) && !next.isEmpty {
                if isSpace { pos += 1 }
                while next.isDisjoint(with: nonWord) && !next.isEmpty { pos += 1; next = classes(pos) }
                emit(pos)
                continue
            }
            pos = whitespaceEnd(at: pos) ?? pos + 1
            emit(pos)
        }
    }

    /// llama.cpp's `unicode_regex_split_custom_llama3`, with `\p{N}{1,maxDigits}`.
    mutating func llama3(maxDigits: Int) {
        let nonWord: CharacterClass = [.whitespace, .letter, .number]
        var pos = start
        while pos < end {
            let c = scalars[pos]
            let here = classes[pos]
            if let length = contraction(at: pos, caseInsensitive: true) {
                pos += length
                emit(pos)
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || here.contains(.number)) && (here.contains(.letter) || classes(pos + 1).contains(.letter)) {
                pos += 1
                while classes(pos).contains(.letter) { pos += 1 }
                emit(pos)
                continue
            }
            // \p{N}{1,maxDigits}
            if here.contains(.number) {
                var groupStart = pos
                while classes(pos).contains(.number) {
                    pos += 1
                    if pos - groupStart >= maxDigits {
                        emit(pos)
                        groupStart = pos
                    }
                }
                emit(pos)
                continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            var next = c == 0x20 ? classes(pos + 1) : here
            if next.isDisjoint(with: nonWord) {
                if c == 0x20 { pos += 1 }
                while next.isDisjoint(with: nonWord) && !next.isEmpty { pos += 1; next = classes(pos) }
                while let s = scalar(pos), s == 0x0D || s == 0x0A { pos += 1 }
                emit(pos)
                continue
            }
            // \s*[\r\n]+
            var n = 0
            var lastNewlineEnd: Int?
            while classes(pos + n).contains(.whitespace) {
                if scalars[pos + n] == 0x0D || scalars[pos + n] == 0x0A { lastNewlineEnd = pos + n + 1 }
                n += 1
            }
            if let lastNewlineEnd {
                pos = lastNewlineEnd
            } else {
                pos = whitespaceEnd(at: pos) ?? pos + 1
            }
            emit(pos)
        }
    }
}
