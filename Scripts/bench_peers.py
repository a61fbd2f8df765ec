#!/usr/bin/env python3
"""Peregrine beside the peers' own benchmark binaries: llama.cpp's and ik_llama.cpp's
`llama-bench` and `llama-batched-bench`, same GGUF, same thread count, interleaved.

Where Scripts/bench_vs_llamacpp.py drives llama.cpp through llama-cpp-python, this runs the
peers' tools as their users do, so any build of either can stand beside Peregrine (build them
as ../shared/reference/peers.md says; nothing of them belongs to this repository).

Points (each as llama-bench defines it):
  ppP       a P-token prompt into an empty context       (llama-bench -p P -n 0)
  tgN@dD    N single-token decodes after D tokens of context (llama-bench -p 0 -n N -d D;
            ik_llama.cpp has no -d: its -gp D,N measures the same generation after D tokens)
  ppP@dD    a P-token prompt after D tokens (ik_llama.cpp: not available)
  bS        S sequences of 128 + 128 tokens, aggregate generation (llama-batched-bench
            -npp 128 -ntg 128 -npl S: S_TG; Peregrine: bench throughput's decode tokens/s)

Every point runs --rounds times, the engines in a rotating order each round, one repetition
per run after the tool's own warm-up; the median is reported with Peregrine's ratio to each peer.

    Scripts/bench_peers.py --llama-cpp ~/llama.cpp/build/bin --ik-llama-cpp ~/ik_llama.cpp/build/bin \\
        --points pp512,tg128,pp2048,tg128@d4096,b16,b64 --rounds 3
    Scripts/bench_peers.py --model gemma3-270m ...   # a known model name or a .gguf path
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNOWN = {
    "smollm2-135m": "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m": "gemma3-270m/gemma-3-270m-q4_k_m.gguf",
}


def model_path(name):
    if os.path.exists(name):
        return name
    home = os.environ.get("PEREGRINE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "peregrine")
    return os.path.join(home, "models", KNOWN[name])


def parse_point(text):
    m = re.fullmatch(r"(pp|tg)(\d+)(?:@d(\d+))?", text)
    if m:
        return {"name": text, "kind": m.group(1), "n": int(m.group(2)), "depth": int(m.group(3) or 0)}
    m = re.fullmatch(r"b(\d+)", text)
    if m:
        return {"name": text, "kind": "batched", "sequences": int(m.group(1))}
    sys.exit(f"unknown point {text!r}")


def run(command, timeout, stderr_too=False):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-400:]}")
    return done.stdout + (done.stderr if stderr_too else "")


def peregrine(args, point):
    exe = os.path.join(REPO, ".build", "release", "peregrine")
    if point["kind"] == "batched":
        s = point["sequences"]
        out = json.loads(run([exe, "bench", "throughput", "--json", "-m", args.model, "--threads", str(args.threads),
                              "--num-prompts", str(s), "--input-len", "128", "--output-len", "128",
                              "--max-num-seqs", str(s)], args.timeout))
        return out.get("decode_tokens_per_s") or out["generation_tokens_per_s"]
    p, n = (point["n"], 0) if point["kind"] == "pp" else (0, point["n"])
    out = json.loads(run([exe, "bench", "latency", "--json", "-m", args.model, "-t", str(args.threads), "-p", str(p),
                          "-n", str(n), "-d", str(point["depth"]), "-r", "1"], args.timeout))
    return out[f"{point['kind']}{point['n']}"]


def llama_bench(bin_dir, args, point, ik):
    if point["kind"] == "batched":
        s = point["sequences"]
        text = run([os.path.join(bin_dir, "llama-batched-bench"), "-m", model_path(args.model), "-t", str(args.threads),
                    "-npp", "128", "-ntg", "128", "-npl", str(s), "-c", str(s * 256)], args.timeout, stderr_too=True)
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 8 and cells[0] == "128" and cells[2] == str(s):
                return float(cells[7])
        raise RuntimeError("no batched-bench row")
    command = [os.path.join(bin_dir, "llama-bench"), "-m", model_path(args.model), "-t", str(args.threads), "-r", "1",
               "-o", "json"]
    depth = point["depth"]
    if point["kind"] == "pp":
        if depth and ik:
            return None
        command += ["-p", str(point["n"]), "-n", "0"] + (["-d", str(depth)] if depth else [])
    elif ik and depth:
        command += ["-p", "0", "-n", "0", "-gp", f"{depth},{point['n']}"]
    else:
        command += ["-p", "0", "-n", str(point["n"])] + (["-d", str(depth)] if depth else [])
    return json.loads(run(command, args.timeout))[-1]["avg_ts"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--points", default="pp512,tg128")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--llama-cpp", help="folder with llama.cpp's llama-bench and llama-batched-bench")
    parser.add_argument("--ik-llama-cpp", help="folder with ik_llama.cpp's llama-bench and llama-batched-bench")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    points = [parse_point(p) for p in args.points.split(",")]
    engines = [("peregrine", lambda pt: peregrine(args, pt))]
    if args.llama_cpp:
        engines.append(("llama.cpp", lambda pt: llama_bench(args.llama_cpp, args, pt, ik=False)))
    if args.ik_llama_cpp:
        engines.append(("ik_llama.cpp", lambda pt: llama_bench(args.ik_llama_cpp, args, pt, ik=True)))
    runs = {(p["name"], e): [] for p in points for e, _ in engines}
    for r in range(args.rounds):
        for point in points:
            order = engines[r % len(engines):] + engines[:r % len(engines)]
            for name, measure in order:
                value = measure(point)
                if value is not None:
                    runs[(point["name"], name)].append(value)
                print(f"round {r + 1} {point['name']:>12} {name:>13}: {value if value is None else round(value, 1)}",
                      file=sys.stderr, flush=True)
    table = []
    for point in points:
        row = {"point": point["name"]}
        for name, _ in engines:
            values = runs[(point["name"], name)]
            row[name] = statistics.median(values) if values else None
            row[name + "_runs"] = values
        for name, _ in engines[1:]:
            if row[name] and row["peregrine"]:
                row["ratio_" + name] = row["peregrine"] / row[name]
        table.append(row)
    if args.json:
        print(json.dumps({"model": args.model, "threads": args.threads, "rounds": args.rounds, "points": table}, indent=1))
        return
    names = [n for n, _ in engines]
    print(f"{args.model}, {args.threads} threads, medians of {args.rounds} rounds (tokens/s)")
    print("| point | " + " | ".join(names) + " | " + " | ".join(f"Peregrine ÷ {n}" for n in names[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(names) - 1))
    for row in table:
        cells = [f"{row[n]:,.1f}" if row[n] else "—" for n in names]
        cells += [f"{row['ratio_' + n]:.2f}×" if row.get("ratio_" + n) else "—" for n in names[1:]]
        print(f"| {row['point']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
