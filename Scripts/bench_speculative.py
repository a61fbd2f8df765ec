#!/usr/bin/env python3
"""Speculative decoding, method x workload, with and without speculation, side by side.

For each workload (a JSON Lines file of chat requests under Benchmarks/speculative/) and each
method, Peregrine runs `bench throughput --compare-speculation` (with and without the
method, interleaved --rounds times; greedy, EOS respected, --output-len tokens at most) at
concurrency 1 and at --batch concurrent requests, and reports the generation throughput ratio,
the acceptance rate and the mean acceptance length. llama.cpp (llama-cpp-python) runs the same
chat requests at batch 1 with and without its prompt-lookup decoding (LlamaPromptLookupDecoding,
its n-gram mode), interleaved the same way.

    Scripts/bench_speculative.py                                   # every workload and method
    Scripts/bench_speculative.py --workloads code_edit chat --methods ngram suffix --rounds 3
    Scripts/bench_speculative.py --no-llamacpp --json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = os.path.join(REPO, "Benchmarks", "speculative")
METHODS = {
    "ngram": {"method": "ngram", "num_speculative_tokens": 5},
    "suffix": {"method": "suffix", "num_speculative_tokens": 8},
}


def default_model():
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    return os.path.join(home, "models", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")


def peregrine(args, workload, spec, concurrency):
    prompts = os.path.join(WORKLOADS, workload + ".jsonl")
    count = sum(1 for _ in open(prompts))
    n = count * max(1, concurrency // count) if concurrency > 1 else count
    cmd = [args.peregrine, "bench", "throughput", "--model", args.model, "--threads", str(args.threads), "--json",
           "--prompts-file", prompts, "--num-prompts", str(max(n, concurrency)), "--concurrency", str(concurrency),
           "--output-len", str(args.output_len), "--respect-eos",
           "--speculative-config", json.dumps(spec), "--compare-speculation", "--rounds", str(args.rounds)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    on = [r for r in runs if "spec_draft_tokens" in r]
    off = [r for r in runs if "spec_draft_tokens" not in r]
    med = lambda rs: statistics.median(r["generation_tokens_per_s"] for r in rs)
    last = on[-1]
    return {"on": med(on), "off": med(off), "ratio": med(on) / med(off),
            "acceptance_rate": last["spec_acceptance_rate"], "mean_acceptance_length": last["spec_mean_acceptance_length"]}


def llamacpp(args, workload):
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
    requests = [json.loads(line)["messages"] for line in open(os.path.join(WORKLOADS, workload + ".jsonl"))]
    plain = Llama(args.model, n_threads=args.threads, n_ctx=2048, verbose=False)
    lookup = Llama(args.model, n_threads=args.threads, n_ctx=2048, verbose=False,
                   draft_model=LlamaPromptLookupDecoding(num_pred_tokens=5))
    rates = {"on": [], "off": []}
    for _ in range(args.rounds):
        for key, llm in (("on", lookup), ("off", plain)):
            tokens, seconds = 0, 0.0
            for messages in requests:
                llm.reset()
                start = time.perf_counter()
                r = llm.create_chat_completion(messages=messages, max_tokens=args.output_len, temperature=0)
                seconds += time.perf_counter() - start
                tokens += r["usage"]["completion_tokens"]
            rates[key].append(tokens / seconds)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {"on": on, "off": off, "ratio": on / off}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=default_model())
    p.add_argument("--peregrine", default=os.path.join(REPO, ".build", "release", "peregrine"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--output-len", type=int, default=192)
    p.add_argument("--batch", type=int, default=16, help="concurrent requests of the batched runs (0 skips them)")
    p.add_argument("--workloads", nargs="*", default=sorted(f[:-6] for f in os.listdir(WORKLOADS) if f.endswith(".jsonl")))
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--no-llamacpp", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for workload in args.workloads:
        for method in args.methods:
            for concurrency in [1] + ([args.batch] if args.batch > 0 else []):
                r = peregrine(args, workload, METHODS[method], concurrency)
                rows.append({"engine": "peregrine", "workload": workload, "method": method, "concurrency": concurrency, **r})
                print(json.dumps(rows[-1]) if args.json else
                      "%-15s %-7s c=%-3d  %7.1f -> %7.1f tok/s  x%.2f  acceptance %.0f%%  mean length %.2f" % (
                          workload, method, concurrency, r["off"], r["on"], r["ratio"], 100 * r["acceptance_rate"],
                          r["mean_acceptance_length"]), flush=True)
        if not args.no_llamacpp:
            r = llamacpp(args, workload)
            rows.append({"engine": "llama.cpp", "workload": workload, "method": "prompt lookup", "concurrency": 1, **r})
            print(json.dumps(rows[-1]) if args.json else
                  "%-15s llama.cpp prompt lookup c=1  %7.1f -> %7.1f tok/s  x%.2f" % (workload, r["off"], r["on"], r["ratio"]), flush=True)


if __name__ == "__main__":
    main()
