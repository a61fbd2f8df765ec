#!/usr/bin/env python3
"""Record a long-prompt golden continuation with llama.cpp (through llama-cpp-python).

The prompt is the start of a Debian license text (default /usr/share/common-licenses/GPL-3), cut at
the last paragraph break that keeps it within --target-tokens tokens as the model tokenizes it with
its special tokens (BOS for Gemma; none for SmolLM2, whose vocabulary adds none). It must be longer
than --min-tokens (default 1,025: more than twice Gemma 3's 512-token sliding window).

llama.cpp decodes it greedily (temperature 0, top_k 1: the argmax, ties to the lowest id) for
--max-tokens tokens, one token at a time after the prompt, on --threads threads. Per generated
position it records the chosen id, its log-probability and the top-5 ids with log-probabilities,
all from the full softmax (float64) of the raw logits: the shape of the default model's goldens
(prompt, prompt_ids, n_predict, sampling, content, generated_ids, steps[{id, logprob, top5}]),
plus provenance (llama-cpp-python version, model file name and SHA-256, corpus SHA-256).

    Scripts/record_long_prompt_golden.py --model path/to/gemma-3-270m-q4_k_m.gguf \\
        --out Tests/ModelsTests/Fixtures/gemma3_long_prompt.json

Needs llama-cpp-python (Scripts/install_llamacpp.sh) and numpy.
"""
import argparse
import ctypes
import hashlib
import json
import os
import sys

import numpy as np

_LOG_CALLBACK = None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log_softmax(logits):
    x = np.asarray(logits, dtype=np.float64)
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def build_prompt(llm, text, target, minimum):
    """The longest prefix of `text` ending at a paragraph break ("\\n\\n", kept) whose tokens,
    with the model's special tokens, number at most `target`."""
    breaks = [i + 2 for i in range(len(text) - 1) if text[i:i + 2] == "\n\n"]
    best = None
    lo, hi = 0, len(breaks) - 1
    while lo <= hi:  # token counts grow with the prefix: binary search on the break index
        mid = (lo + hi) // 2
        ids = llm.tokenize(text[:breaks[mid]].encode("utf-8"), add_bos=True, special=False)
        if len(ids) <= target:
            best = (text[:breaks[mid]], ids)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None or len(best[1]) < minimum:
        sys.exit(f"no paragraph break gives between {minimum} and {target} tokens "
                 f"(best: {len(best[1]) if best else 0}); change --target-tokens")
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--corpus", default="/usr/share/common-licenses/GPL-3",
                    help="text whose start is the prompt (default: %(default)s)")
    ap.add_argument("--target-tokens", type=int, default=1200, help="most prompt tokens (default: %(default)s)")
    ap.add_argument("--min-tokens", type=int, default=1025, help="fewest prompt tokens (default: %(default)s)")
    ap.add_argument("--max-tokens", type=int, default=48, help="tokens to generate (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default: %(default)s)")
    ap.add_argument("--n-batch", type=int, default=512, help="prompt batch size (default: %(default)s)")
    args = ap.parse_args()

    try:
        import llama_cpp
    except ImportError as error:
        sys.exit(f"llama_cpp is not importable ({error}); install it with Scripts/install_llamacpp.sh")
    if not os.path.isfile(args.model):
        sys.exit(f"model not found: {args.model}")

    # Quiet llama.cpp's loader unless asked (the callback must outlive every llama.cpp call).
    global _LOG_CALLBACK
    if not os.environ.get("RECORD_LLAMA_VERBOSE"):
        _LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None)
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p())

    with open(args.corpus, encoding="utf-8") as f:
        corpus = f.read()
    n_ctx = args.target_tokens + args.max_tokens + 16
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=n_ctx, n_batch=args.n_batch, n_threads=args.threads,
                          n_threads_batch=args.threads, logits_all=True, n_gpu_layers=0, seed=0, verbose=False)
    prompt, prompt_ids = build_prompt(llm, corpus, args.target_tokens, args.min_tokens)
    print(f"prompt: {len(prompt_ids)} tokens ({len(prompt)} characters of {args.corpus})", file=sys.stderr)

    n_vocab = llm.n_vocab()
    llm.reset()
    llm.eval(prompt_ids)
    steps, generated = [], []
    for _ in range(args.max_tokens):
        logits = np.asarray(llm.scores[llm.n_tokens - 1, :n_vocab])
        lp = log_softmax(logits)
        # Greedy: the first maximum of the raw logits (llama.cpp's greedy sampler keeps the first).
        chosen = int(np.argmax(logits))
        order = np.lexsort((np.arange(n_vocab), -lp))[:5]  # by log-probability, ties to the lower id
        steps.append({
            "id": chosen,
            "logprob": float(lp[chosen]),
            "top5": [{"id": int(i), "logprob": float(lp[i])} for i in order],
        })
        generated.append(chosen)
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, chosen):
            break
        llm.eval([chosen])

    content = llm.detokenize(generated).decode("utf-8", errors="replace")
    out = {
        "prompt": prompt,
        "prompt_ids": prompt_ids,
        "n_predict": args.max_tokens,
        "sampling": "greedy (temperature 0, top_k 1)",
        "content": content,
        "generated_ids": generated,
        "steps": steps,
        "recorded_with": {
            "llama_cpp_python": llama_cpp.__version__,
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "model_file": os.path.basename(args.model),
            "model_sha256": sha256_file(args.model),
            "corpus": os.path.basename(args.corpus),
            "corpus_sha256": hashlib.sha256(corpus.encode("utf-8")).hexdigest(),
            "prompt_tokens": len(prompt_ids),
            "add_special": True,
            "n_ctx": n_ctx,
            "n_batch": args.n_batch,
            "n_threads": args.threads,
            "logprobs": "log-softmax (float64) of the raw logits over the whole vocabulary",
        },
    }
    llm.close()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    gaps = [s["top5"][0]["logprob"] - s["top5"][1]["logprob"] for s in steps]
    first_tie = next((i for i, g in enumerate(gaps) if g < 0.35), len(steps))
    print(f"wrote {args.out}: {len(prompt_ids)} prompt tokens, {len(generated)} generated; "
          f"first near tie (top-2 gap < 0.35) at step {first_tie}", file=sys.stderr)
    print(f"first generated ids {generated[:12]} -> {content[:120]!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
