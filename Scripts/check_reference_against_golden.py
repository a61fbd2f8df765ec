#!/usr/bin/env python3
"""Check Scripts/reference_forward.py against llama.cpp's golden completions.

    python3 Scripts/check_reference_against_golden.py [--model MODEL.gguf] [--golden DIR]

Defaults: the model `$PEREGRINE_MODEL` if set, else the default model in the model store,
`$PEREGRINE_HOME/models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf` (`PEREGRINE_HOME` defaults to
~/.cache/peregrine; `peregrine pull` puts the model there); the goldens in `../shared/golden` next to
the repository.

For each completions/*.json, runs prompt_ids + generated_ids teacher-forced (one causal sequence) through
the NumPy reference and compares, at every generated step, the log-probability the reference gives the
token llama.cpp chose with llama.cpp's own value (|Δ| median / max), and whether the reference's argmax
equals llama.cpp's choice up to the first near tie (llama.cpp's own top-2 log-prob gap below --tie).
The model's weights are dequantized once and shared by all files. Exits 1 if the thresholds of
../shared/golden/README.md (median ≤ 0.03, max ≤ 0.35, argmax agrees up to the first near tie) are
not met, 2 if the model or the goldens are missing.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forward import Model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GOLDEN = os.path.normpath(os.path.join(REPO, "..", "shared", "golden"))
MODEL_IN_STORE = os.path.join("models", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")
MEDIAN_MAX, MAX_MAX = 0.03, 0.35  # golden/README.md, "How close is close enough", rule 2


def default_model() -> str:
    """PEREGRINE_MODEL, else the default model in the store (as Tests/*/TestSupport.swift finds it)."""
    if os.environ.get("PEREGRINE_MODEL"):
        return os.environ["PEREGRINE_MODEL"]
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    return os.path.join(home, MODEL_IN_STORE)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model(), help="GGUF file (default: %(default)s)")
    ap.add_argument("--golden", default=DEFAULT_GOLDEN, help="golden folder (default: %(default)s)")
    ap.add_argument("--tie", type=float, default=0.35, help="near-tie threshold on llama.cpp's top-2 gap")
    args = ap.parse_args()

    if not os.path.isfile(args.model):
        print(f"model not found: {args.model} (peregrine pull, or --model / PEREGRINE_MODEL)", file=sys.stderr)
        sys.exit(2)
    paths = sorted(glob.glob(os.path.join(args.golden, "completions", "*.json")))
    if not paths:
        print(f"no golden completions in {os.path.join(args.golden, 'completions')} (--golden)", file=sys.stderr)
        sys.exit(2)

    model = Model(args.model)
    all_d = []
    ok = True
    for path in paths:
        g = json.load(open(path))
        prompt, gen, steps = g["prompt_ids"], g["generated_ids"], g["steps"]
        lp = log_softmax(model.forward(prompt + gen))
        # logits at sequence index len(prompt)-1+i predict generated token i
        rows = lp[len(prompt) - 1: len(prompt) - 1 + len(gen)]
        d = np.array([rows[i, s["id"]] - s["logprob"] for i, s in enumerate(steps)])
        all_d.append(np.abs(d))

        first_tie = len(steps)
        for i, s in enumerate(steps):
            t5 = s["top5"]
            if len(t5) > 1 and t5[0]["logprob"] - t5[1]["logprob"] < args.tie:
                first_tie = i
                break
        ref_arg = rows.argmax(axis=1)
        mism = [i for i in range(len(steps)) if ref_arg[i] != steps[i]["id"]]
        agree = all(i >= first_tie for i in mism)
        ok &= agree
        print(f"{os.path.basename(path):28s} n={len(prompt)}+{len(gen)}  |Δlogp| median {np.median(np.abs(d)):.4f} "
              f"max {np.max(np.abs(d)):.4f} (step {int(np.argmax(np.abs(d)))})  first near tie @{first_tie}  "
              f"argmax mismatches {mism[:6]}{'…' if len(mism) > 6 else ''}  "
              f"{'OK' if agree else 'ARGMAX DIFFERS BEFORE TIE'}")

    a = np.concatenate(all_d)
    med, mx = float(np.median(a)), float(np.max(a))
    print(f"ALL {a.size} steps: |Δlogp| median {med:.4f}  max {mx:.4f}  (README F32 reference: ~0.013 / ~0.20)")
    ok &= med <= MEDIAN_MAX and mx <= MAX_MAX
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
