#!/usr/bin/env python3
"""Record llama.cpp's token ids on tiny vocabularies, one per pre-tokenizer Peregrine implements.

    python3 Scripts/record_pretokenizer_goldens.py            # writes Tests/TokenizationTests/Fixtures/
    python3 Scripts/record_pretokenizer_goldens.py --out DIR  # somewhere else

Deterministic. Needs the PyPI packages `gguf` (tested with 0.19.0) and llama-cpp-python (0.3.36;
Scripts/install_llamacpp.sh). For each vocabulary the script writes a GGUF file that holds only the
tokenizer (plus `general.architecture`, which llama.cpp needs to open a file), loads it in llama.cpp with
`llama_cpp.Llama(model_path=..., vocab_only=True)` and records `Llama.tokenize(text, add_bos, special)`
(`add_bos` is llama.cpp's `add_special`, `special` its `parse_special`) for every test string.

The vocabularies have the layout of Tests/TokenizationTests/TinyVocabularies.swift, so that the Swift
test rebuilds the very same ones from the fixture (PreTokenizerGoldenTests.swift):

* byte-level BPE (`tokenizer.ggml.model` gpt2), `TinyVocabularies.byteLevel`: ids 0…255 are the 256
  GPT-2 byte characters in byte order (type normal), then `extra` tokens with their types, with
  `merges` in rank order. One token list and merge list for all pre-tokenizers; only
  `tokenizer.ggml.pre` changes (and is left out once: llama.cpp's and Peregrine's "missing" case).
  The merges are learnt from the test strings themselves *without* pre-tokenization, so they join
  letters to spaces, digits to digits, punctuation to newlines and so on: where a pre-tokenizer cuts a
  word differently, the ids differ. A few whole words are added as tokens without any merge path to
  them, for the pre-tokenizers that use a word found whole in the vocabulary (llama.cpp's
  `ignore_merges`), and one control and one user-defined token for the special-token cases.
* SentencePiece (`tokenizer.ggml.model` llama), `TinyVocabularies.sentencePiece`: `<unk>` 0, `<s>` 1,
  `</s>` 2, `<0x00>`…`<0xFF>` 3…258 (type byte), then `pieces` with their scores (type normal). The
  pieces are the characters of the test strings except control characters, CJK and emoji (these
  take the byte fallback), and merges learnt the same way on the strings with spaces as "▁"; a
  piece's score falls with its merge rank, three pieces to a score, so equal scores occur.
  Recorded with the default `add_space_prefix` and with it false.

Fixtures (JSON): `pretokenizer_goldens.json` and `sentencepiece_goldens.json`, each with the
generator (this command, llama-cpp-python's and gguf's versions), the vocabulary and, per vocabulary,
`cases`: {"text", "add_special", "parse_special", "ids"}. In `pretokenizer_goldens.json` the
pre-tokenizer names for which llama.cpp gives the same ids on every case share one entry
(`"pre": [names]`, null for the missing key); each name was loaded and recorded on its own.
"""
import argparse
import ctypes
import importlib.metadata
import json
import os
import sys
import tempfile
from collections import Counter

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "Tests", "TokenizationTests", "Fixtures")

# Every `tokenizer.ggml.pre` value Sources/Tokenization/PreTokenizer.swift accepts, and None for a
# file without the key (llama.cpp: warns and uses the default pre-tokenizer).
PRE_TOKENIZERS = [
    "default", None,
    "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "jina-v1-en",
    "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais",
    "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b",
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "dbrx", "smaug-bpe",
    "qwen2", "deepseek-r1-qwen", "megrez",
    "falcon",
]

# Strings chosen for the branches of the pre-tokenizer expressions (llama.cpp's GPT-2, Llama 3 and
# the default's, and the single-digit / digit-run / digit-triple / punctuation-run passes).
STRINGS = [
    # contractions (GPT-2: lowercase only; Llama 3: ASCII case-insensitive)
    "I'm sure it's fine, isn't it?", "you're they've we'll he'd she's", "I'M YOU'RE THEY'VE WE'LL HE'D",
    "It'S mIxEd'Ll", "'s 't 're 've 'm 'll 'd", "rock'n'roll", "''s '' 'x", "ends with '", " 's", "don't'll",
    "l'été d'été", "'S'T'RE", "x'sy", "'ss",
    # digits, runs of 1 to 7, and other number characters
    "1", "12", "123", "1234", "12345", "123456", "1234567", "a1b22c333d4444e55555", "3.14159",
    "1,000,000", "2024-06-11", "x=12345;", " 42 and  7", "v2.0.1", "0x1F", "٣٤٥٦ ١٢", "½ ²³ Ⅻ ⅷ",
    "42nd 1st", "year 2024's", "1, 2, 3", "12345 I'LL go",
    # punctuation and symbols
    "Hello, world!", "...", "?!?!", "a+b=c", "$100.00", "<tag attr=\"v\">", "x^2~y|z", "`code` ``x``",
    "(a)[b]{c}", "--flag -x", "e.g. i.e.", "@user #tag", "«guillemets» „quotes“", "a—b–c", "50% off!",
    "C++ & C#", "©®™ §¶", "€£¥", "#!/bin/sh", "::->=>", "a.b,c;d:e",
    # whitespace runs
    "a  b", "a   b", "  leading", "trailing  ", "\t\ttab", "a \t b", " ", "   ", "\u00a0nbsp\u00a0",
    "a\u3000b", "x\u2009y", "a\u000bb\u000cc", "\u0085x", "zero\u200bwidth", "  \t  x",
    # newlines
    "line1\nline2", "a\n\nb", "a \n b", "\r\n", "x\r\ny", "a\n\n\n", "  \n  x", "!!\n\nok", ". \n",
    "\n", "\n\n", " \n", "a\r\rb", "end.\r\n\r\nnext", "x,\n y",
    # letters of other scripts, accents, combining marks
    "héllo wörld", "naïve café", "Ελληνικά γράμματα", "Русский текст", "עברית", "العربية",
    "e\u0301t\u00e9", "ñandú Ångström", "ǅemal", "ﬁne",
    # CJK
    "日本語のテキスト", "中文，标点。", "한국어 텍스트", "東京2024年", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ",
    # emoji
    "😀", "I ❤️ NY", "👨‍👩‍👧", "a😀b", "🇫🇷🇩🇪", "👍🏽 ok",
    # mixed
    "def f(x):\n    return x**2\n", "{\"a\": [1, 2], \"b\": null}", "https://example.com/a?b=1&c=2",
    "The quick brown fox jumps over the lazy dog.", "hello world", "Hello World", "hello", "",
]

# Strings recorded with add_special and parse_special on as well (BOS by pre-tokenizer, special tokens).
SPECIAL_STRINGS = ["hello world", "", "a<|endoftext|>b", "x<|user|> y", "<|endoftext|><|user|>",
                   "hello</s>world", "<s> hi"]

# Whole words (byte-level text) that no merge makes, added as tokens at the end: only the
# pre-tokenizers that look a word up whole before merging (llama.cpp's ignore_merges) produce them.
WHOLE_WORDS = ["hello", "Ġworld", "ĠWorld", "123", "Ġfox", "ĠI", "ĊĊ", "Ġquick"]
CONTROL_TOKEN = "<|endoftext|>"
USER_DEFINED_TOKEN = "<|user|>"

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Merges learnt in each round of `train`: frequent pairs, whole runs, then whole strings.
BPE_ROUNDS = (400, 2000, 150)


def byte_characters():
    """GPT-2's byte → character table (bytes_to_unicode)."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


BYTE_CHARS = byte_characters()


def byte_level(text):
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def apply_merges(symbols, ranks):
    """Byte-pair encoding of one sequence: merge the adjacent pair of lowest rank (leftmost on ties)
    until none is left."""
    symbols = list(symbols)
    while len(symbols) > 1:
        best = min(range(len(symbols) - 1), key=lambda i: (ranks.get((symbols[i], symbols[i + 1]), 1 << 30), i))
        if (symbols[best], symbols[best + 1]) not in ranks:
            break
        symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
    return symbols


def learn_merges(sequences, merges, count, min_count, allowed=lambda a, b: True):
    """Plain BPE training, continuing `merges` (a list of pairs, extended in place): the sequences are
    first encoded with the merges so far, then the most frequent adjacent pair (ties: the smallest
    pair) is merged, `count` times at most and while some pair occurs at least `min_count` times."""
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    sequences = [apply_merges(s, ranks) for s in sequences]
    for _ in range(count):
        pairs = Counter()
        for s in sequences:
            for a, b in zip(s, s[1:]):
                if allowed(a, b):
                    pairs[(a, b)] += 1
        if not pairs:
            break
        best_count = max(pairs.values())
        if best_count < min_count:
            break
        a, b = min(p for p, c in pairs.items() if c == best_count)
        merges.append((a, b))
        for s in sequences:
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [a + b]
                i += 1
    return merges


def character_kind(c):
    """A rough class, for cutting strings into runs of one kind (training only)."""
    if c.isspace():
        return "space"
    if c.isalpha():
        return "letter"
    if c.isnumeric():
        return "number"
    return "other"


def runs(text):
    """`text` cut where the kind of character changes: the runs, and each two neighbouring runs joined."""
    cuts = [0] + [i for i in range(1, len(text)) if character_kind(text[i]) != character_kind(text[i - 1])]
    cuts.append(len(text))
    single = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    return single + [a + b for a, b in zip(single, single[1:])]


def train(texts, encode, allowed=lambda a, b: True):
    """Merges in three rounds: pairs frequent (twice or more) over the whole strings; then every run of
    one kind of character (letters, numbers, whitespace, the rest), and every two neighbouring runs,
    merged whole, so that a pre-tokenizer cutting a run, a contraction, digits into groups, or not
    cutting between two runs, changes the ids; then whole strings again, rarely shared pairs too."""
    merges = []
    whole = [encode(t) for t in texts if t]
    learn_merges(whole, merges, BPE_ROUNDS[0], 2, allowed)
    learn_merges([encode(r) for t in texts for r in runs(t)], merges, BPE_ROUNDS[1], 1, allowed)
    learn_merges(whole, merges, BPE_ROUNDS[2], 1, allowed)
    return merges


def byte_level_vocabulary():
    merges = train(STRINGS, byte_level, allowed=lambda a, b: a + b not in WHOLE_WORDS)
    extra, seen = [], set(BYTE_CHARS.values())
    for a, b in merges:
        if a + b not in seen:
            extra.append({"text": a + b, "type": NORMAL})
            seen.add(a + b)
    for word in WHOLE_WORDS:
        if word not in seen:
            extra.append({"text": word, "type": NORMAL})
            seen.add(word)
    extra.append({"text": CONTROL_TOKEN, "type": CONTROL})
    extra.append({"text": USER_DEFINED_TOKEN, "type": USER_DEFINED})
    control_id = 256 + len(extra) - 2
    return {
        "extra": extra,
        "merges": [a + " " + b for a, b in merges],
        # llama.cpp's default BOS/EOS for gpt2 vocabularies is id 11; Peregrine has none: set both.
        "more": [{"key": "tokenizer.ggml.bos_token_id", "type": "uint32", "value": control_id},
                 {"key": "tokenizer.ggml.eos_token_id", "type": "uint32", "value": control_id}],
    }


def spm_character_allowed(c):
    cp = ord(c)
    if cp < 0x20 or cp == 0x7F or 0x80 <= cp < 0xA0:
        return False
    if 0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xFF00 <= cp <= 0xFFEF:  # CJK, Hangul, fullwidth
        return False
    if cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF or cp in (0x200D, 0xFE0F):  # emoji and their joiners
        return False
    return True


def sentencepiece_vocabulary():
    texts = [" " + s for s in STRINGS if s]  # as llama.cpp sees them with add_space_prefix
    chars = sorted({c for t in texts for c in t.replace(" ", "▁") if spm_character_allowed(c)})
    merges = train(texts, lambda t: list(t.replace(" ", "▁")),
                   allowed=lambda a, b: all(spm_character_allowed(c) for c in a + b))
    pieces = [{"text": c, "score": -1000.0} for c in chars]
    seen = set(chars)
    for rank, (a, b) in enumerate(merges):
        if a + b not in seen:
            pieces.append({"text": a + b, "score": -1.0 - rank // 3})
            seen.add(a + b)
    return {"pieces": pieces, "byte_fallback": True}


def add_more(writer, more):
    for entry in more:
        if entry["type"] == "uint32":
            writer.add_uint32(entry["key"], entry["value"])
        elif entry["type"] == "bool":
            writer.add_bool(entry["key"], entry["value"])
        elif entry["type"] == "string":
            writer.add_string(entry["key"], entry["value"])
        else:
            raise ValueError(entry["type"])


def write_gguf(path, model, tokens, types, merges=None, scores=None, pre=None, more=()):
    writer = gguf.GGUFWriter(path, "llama")  # general.architecture only: llama.cpp wants one
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    if scores is not None:
        writer.add_token_scores(scores)
    writer.add_token_types(types)
    if merges is not None:
        writer.add_token_merges(merges)
    add_more(writer, more)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def record(llama_cpp, path):
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    cases = []
    for text in STRINGS:
        cases.append({"text": text, "add_special": False, "parse_special": False,
                      "ids": llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)})
    for text in SPECIAL_STRINGS:
        for add_special, parse_special in [(True, False), (False, True), (True, True)]:
            cases.append({"text": text, "add_special": add_special, "parse_special": parse_special,
                          "ids": llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)})
    del llm
    return cases


def render(obj, indent=0):
    """JSON with every object made of scalars and lists of scalars (a token, a case) on one line."""
    def flat(x):
        return not isinstance(x, (dict, list)) or (isinstance(x, list) and all(flat(y) and not isinstance(y, list) for y in x))
    pad = " " * (indent + 2)
    if isinstance(obj, dict) and not all(flat(v) for v in obj.values()):
        items = [f"{pad}{json.dumps(k)}: {render(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and not flat(obj):
        return "[\n" + ",\n".join(pad + render(v, indent + 2) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def dump(obj, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(obj) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture folder (default: Tests/TokenizationTests/Fixtures)")
    args = ap.parse_args()

    import llama_cpp
    if not os.environ.get("RECORD_LLAMA_VERBOSE"):
        global _LOG_CALLBACK
        _LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None)
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p())

    generator = {
        "command": "python3 Scripts/record_pretokenizer_goldens.py",
        "llama_cpp_python": importlib.metadata.version("llama_cpp_python"),
        "gguf": importlib.metadata.version("gguf"),
        "tokenize": "llama_cpp.Llama(model_path, vocab_only=True).tokenize(text, add_bos=add_special, "
                    "special=parse_special)",
    }
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab.gguf")

        bpe = byte_level_vocabulary()
        tokens = [BYTE_CHARS[b] for b in range(256)] + [e["text"] for e in bpe["extra"]]
        types = [NORMAL] * 256 + [e["type"] for e in bpe["extra"]]
        vocabularies = []  # pre-tokenizer names whose ids llama.cpp gives identically share one entry
        for pre in PRE_TOKENIZERS:
            write_gguf(path, "gpt2", tokens, types, merges=bpe["merges"], pre=pre, more=bpe["more"])
            cases = record(llama_cpp, path)
            same = [v for v in vocabularies if v["cases"] == cases]
            if same:
                same[0]["pre"].append(pre)
            else:
                vocabularies.append({"pre": [pre], "cases": cases})
        for v in vocabularies:
            print(f"gpt2, pre {v['pre']}: {len(v['cases'])} cases", file=sys.stderr)
        dump({"generator": generator, "byte_level": bpe, "vocabularies": vocabularies},
             os.path.join(args.out, "pretokenizer_goldens.json"))

        spm = sentencepiece_vocabulary()
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [p["text"] for p in spm["pieces"]]
        types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256 + [NORMAL] * len(spm["pieces"])
        scores = [0.0] * 259 + [p["score"] for p in spm["pieces"]]
        base = [{"key": "tokenizer.ggml.bos_token_id", "type": "uint32", "value": 1},
                {"key": "tokenizer.ggml.eos_token_id", "type": "uint32", "value": 2},
                {"key": "tokenizer.ggml.unknown_token_id", "type": "uint32", "value": 0}]
        variants = [("default", []),
                    ("no space prefix", [{"key": "tokenizer.ggml.add_space_prefix", "type": "bool", "value": False}])]
        vocabularies = []
        for name, more in variants:
            write_gguf(path, "llama", tokens, types, scores=scores, more=base + more)
            vocabularies.append({"name": name, "more": more, "cases": record(llama_cpp, path)})
            print(f"llama {name}: {len(vocabularies[-1]['cases'])} cases", file=sys.stderr)
        dump({"generator": generator, "sentencepiece": spm, "vocabularies": vocabularies},
             os.path.join(args.out, "sentencepiece_goldens.json"))


_LOG_CALLBACK = None

if __name__ == "__main__":
    main()
