#!/usr/bin/env python3
"""Speculative decoding, method x workload, with and without speculation, side by side.

For each workload (a JSON Lines file of chat requests under Benchmarks/speculative/) and each
method, Peregrine runs `bench throughput --compare-speculation` (with and without the
method, interleaved --rounds times; greedy, EOS respected, --output-len tokens at most) at
each of --concurrencies (1: each request once, on both engines one right after the other;
more: 4 x that many requests, the workload's requests in turn), and reports two ratios:
generated tokens per second over the whole run (prompt processing included) and over the decode-only steps (as
llama-batched-bench's S_TG), with the acceptance rate and the mean acceptance length. With
--llama-server, llama.cpp's server runs the same chat requests one at a time with and without
its n-gram speculation (--spec-type, default ngram-simple), the two servers interleaved the same
way; its figures are the wall time of each request and the server's own decode timings.

    Scripts/bench_speculative.py                                   # every workload and method
    Scripts/bench_speculative.py --workloads whole_file_edit chat --methods ngram suffix --rounds 3
    Scripts/bench_speculative.py --llama-server PATH/llama-server --json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = os.path.join(REPO, "Benchmarks", "speculative")
METHODS = {
    "ngram": {"method": "ngram", "num_speculative_tokens": 5},
    "suffix": {"method": "suffix", "num_speculative_tokens": 16},
}


def default_model():
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    return os.path.join(home, "models", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")


def requests_of(workload):
    return [json.loads(line)["messages"] for line in open(os.path.join(WORKLOADS, workload + ".jsonl")) if line.strip()]


def peregrine(args, workload, spec, concurrency):
    prompts = os.path.join(WORKLOADS, workload + ".jsonl")
    # Batch 1: each request once. Batched: four times the concurrency, so that the run is long
    # enough to time and mostly at full concurrency.
    n = len(requests_of(workload)) if concurrency == 1 else 4 * concurrency
    cmd = [args.peregrine, "bench", "throughput", "--model", args.model, "--threads", str(args.threads), "--json",
           "--prompts-file", prompts, "--num-prompts", str(n), "--concurrency", str(concurrency),
           "--output-len", str(args.output_len), "--respect-eos",
           "--speculative-config", json.dumps(spec), "--compare-speculation", "--rounds", str(args.rounds)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    on = [r for r in runs if "spec_draft_tokens" in r]
    off = [r for r in runs if "spec_draft_tokens" not in r]
    med = lambda rs, key: statistics.median(r[key] for r in rs)
    drafts = sum(r["spec_draft_tokens"] for r in on)
    accepted = sum(r["spec_accepted_tokens"] for r in on)
    return {"on": med(on, "generation_tokens_per_s"), "off": med(off, "generation_tokens_per_s"),
            "ratio": med(on, "generation_tokens_per_s") / med(off, "generation_tokens_per_s"),
            "decode_on": med(on, "decode_tokens_per_s"), "decode_off": med(off, "decode_tokens_per_s"),
            "decode_ratio": med(on, "decode_tokens_per_s") / med(off, "decode_tokens_per_s"),
            "draft_tokens": drafts, "acceptance_rate": accepted / drafts if drafts else 0.0,
            "mean_acceptance_length": statistics.median(r["spec_mean_acceptance_length"] for r in on)}


class LlamaServer:
    """One llama-server process on a free port; `chat` times one request."""

    def __init__(self, binary, model, threads, port, extra):
        self.url = "http://127.0.0.1:%d" % port
        self.process = subprocess.Popen([binary, "-m", model, "-t", str(threads), "-tb", str(threads), "-c", "8192",
                                         "--parallel", "1", "--port", str(port), "--no-webui"] + extra,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llama-server did not start")

    def chat(self, messages, max_tokens):
        body = json.dumps({"messages": messages, "max_tokens": max_tokens, "temperature": 0, "cache_prompt": False}).encode()
        request = urllib.request.Request(self.url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request) as r:
            reply = json.loads(r.read())
        return time.perf_counter() - start, reply

    def close(self):
        self.process.terminate()
        self.process.wait()


def llama_server(args, workload):
    requests = requests_of(workload)
    servers = {"on": LlamaServer(args.llama_server, args.model, args.threads, 18431, args.llama_spec.split()),
               "off": LlamaServer(args.llama_server, args.model, args.threads, 18432, [])}
    rates = {"on": [], "off": []}
    decode = {"on": [], "off": []}
    drafted = accepted = 0
    try:
        for _ in range(args.rounds):
            for key, server in servers.items():
                tokens, seconds, decode_ms = 0, 0.0, 0.0
                for messages in requests:
                    elapsed, reply = server.chat(messages, args.output_len)
                    seconds += elapsed
                    tokens += reply["usage"]["completion_tokens"]
                    timings = reply.get("timings", {})
                    decode_ms += timings.get("predicted_ms", 0.0)
                    if key == "on":
                        drafted += timings.get("draft_n", 0)
                        accepted += timings.get("draft_n_accepted", 0)
                rates[key].append(tokens / seconds)
                decode[key].append(tokens / (decode_ms / 1000) if decode_ms > 0 else float("nan"))
    finally:
        for server in servers.values():
            server.close()
    med = statistics.median
    return {"on": med(rates["on"]), "off": med(rates["off"]), "ratio": med(rates["on"]) / med(rates["off"]),
            "decode_on": med(decode["on"]), "decode_off": med(decode["off"]),
            "decode_ratio": med(decode["on"]) / med(decode["off"]),
            "draft_tokens": drafted, "acceptance_rate": accepted / drafted if drafted else 0.0}


LINE = "%-20s %-22s c=%-3d  %7.1f -> %7.1f tok/s  x%.2f  decode %7.1f -> %7.1f  x%.2f  acceptance %3.0f%%  mean length %s"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=default_model())
    p.add_argument("--peregrine", default=os.path.join(REPO, ".build", "release", "peregrine"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--output-len", type=int, default=1024)
    p.add_argument("--concurrencies", type=int, nargs="*", default=[1, 16], help="concurrent requests of each run (default: 1 16)")
    p.add_argument("--workloads", nargs="*", default=sorted(f[:-6] for f in os.listdir(WORKLOADS) if f.endswith(".jsonl")))
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--llama-server", help="llama.cpp's llama-server binary, to run its n-gram speculation side by side")
    p.add_argument("--llama-spec", default="--spec-type ngram-simple",
                   help="llama-server's speculation flags (default: %(default)s)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    def show(row):
        print(json.dumps(row) if args.json else LINE % (
            row["workload"], row["engine"] + " " + row["method"], row["concurrency"], row["off"], row["on"], row["ratio"],
            row["decode_off"], row["decode_on"], row["decode_ratio"], 100 * row["acceptance_rate"],
            "%.2f" % row["mean_acceptance_length"] if "mean_acceptance_length" in row else "-"), flush=True)

    for workload in args.workloads:
        for method in args.methods:
            for concurrency in args.concurrencies:
                r = peregrine(args, workload, METHODS[method], concurrency)
                show({"engine": "peregrine", "workload": workload, "method": method, "concurrency": concurrency, **r})
        if args.llama_server and 1 in args.concurrencies:
            r = llama_server(args, workload)
            show({"engine": "llama.cpp", "workload": workload, "method": args.llama_spec.split()[-1], "concurrency": 1, **r})


if __name__ == "__main__":
    main()
