#!/usr/bin/env python3
"""llama.cpp's perplexity (through llama-cpp-python) with the protocol of `peregrine perplexity`
and `llama-perplexity -c 512`: the text tokenized whole, cut into consecutive chunks of --ctx
tokens, each chunk evaluated as its own sequence, the second half of each scored.

    Scripts/perplexity_llamacpp.py --model M.gguf --file corpus.txt --chunks 4

llama-cpp-python is not installed by this script: Scripts/install_llamacpp.sh
"""
import argparse
import math
import os
import sys


def main():
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(home, "models", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--file", required=True, help="the text to score")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, help="score at most this many chunks")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    try:
        import numpy as np
        import llama_cpp
    except ImportError as error:
        sys.exit(f"{error}: install llama-cpp-python with Scripts/install_llamacpp.sh (and numpy)")
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.ctx, n_batch=args.ctx, n_threads=args.threads,
                          logits_all=True, verbose=False)
    tokens = llm.tokenize(open(args.file, "rb").read(), add_bos=False, special=False)
    n = args.ctx
    chunks = len(tokens) // n if args.chunks is None else min(args.chunks, len(tokens) // n)
    nll, count = 0.0, 0
    for c in range(chunks):
        chunk = tokens[c * n:(c + 1) * n]
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:n], dtype=np.float64)
        for i in range(n // 2, n - 1):
            row = logits[i]
            m = row.max()
            nll += m + math.log(np.exp(row - m).sum()) - row[chunk[i + 1]]
            count += 1
        print(f"[{c + 1}] {math.exp(nll / count):.4f}", file=sys.stderr)
    print(f'{{"chunks": {chunks}, "ctx": {n}, "ppl": {math.exp(nll / count)}, "tokens": {len(tokens)}, "tokens_scored": {count}}}')


if __name__ == "__main__":
    main()
