#!/usr/bin/env python3
"""Load figures for an OpenAI-compatible server (`peregrine serve`, `llama-server`, vLLM): at each
concurrency, that many clients send streaming chat requests back to back (fixed output length, EOS
ignored); reports requests/s, generation tokens/s (all tokens over the wall time, TTFT included), TTFT
p50/p99 (time to the first content chunk) and TPOT p50 (time per output token after the first, as vLLM's
serving benchmark defines it).

The client is plain HTTP on blocking sockets, a thread per concurrent client, so that on a small
machine it takes as little CPU from the server as possible: the official client parses every chunk
into objects, and an asyncio client took about 0.25 ms of CPU a token.

    Scripts/serve_check.sh Scripts/load_test.py --concurrency 1 8 32
    python3 Scripts/load_test.py --base-url http://127.0.0.1:8080 --model x --concurrency 1 8 32   # any server
    Scripts/serve_check.sh Scripts/load_test.py --against-tg128 12   # concurrency 1 against `bench latency`

--against-tg128 ROUNDS compares concurrency 1 with the same binary's `bench latency` tg128 (the
server idle meanwhile): each round runs --requests-per-client requests, then tg128, so that both
see the machine in the same state; on a VM whose speed drifts 10-25% within a minute, a whole
load run and a whole bench run in turn gave ratios from 0.71 to 1.05.
"""
import argparse
import json
import random
import socket
import statistics
import subprocess
import threading
import time
from urllib.parse import urlsplit

PROMPTS = [
    "Write a haiku about a falcon.", "What is the boiling point of water?", "Name three primary colours.",
    "Explain what a CPU cache is in one paragraph.", "List the days of the week.", "Tell me a short story about a robot.",
    "Why is the sky blue?", "Give me a recipe for pancakes.", "What is 12 times 12?", "Translate 'good morning' to French.",
]


def percentile(values, q):
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def content_chunk(line):
    """Whether an SSE line carries generated text. Compact JSON is recognised without parsing it:
    the client shares the server's cores, and parsing every chunk cost it about 0.25 ms a token."""
    if b'"content":"' in line:
        return b'"content":""' not in line
    if b'"content"' not in line:
        return False
    choices = json.loads(line[6:]).get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def one_request(args, rng):
    """One streaming chat request on a blocking socket; returns (TTFT s, generated tokens, TPOT s)."""
    url = urlsplit(args.base_url)
    body = json.dumps({
        "model": args.model, "stream": True, "max_tokens": args.output_len, "temperature": args.temperature, "seed": rng.randint(0, 1 << 30),
        "ignore_eos": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {args.api_key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    start = time.perf_counter()
    ttft, last, tokens, chunks = None, None, None, 0
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head + body)
        pending, first, done = b"", True, False
        while not done and (data := sock.recv(1 << 16)):
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if first:
                    first = False
                    if b" 200 " not in line:
                        raise RuntimeError((line + pending + sock.recv(500)).decode(errors="replace"))
                if not line.startswith(b"data: "):
                    continue
                if line.startswith(b"data: [DONE]"):
                    done = True
                    break
                if content_chunk(line):
                    chunks += 1
                    last = time.perf_counter() - start
                    if ttft is None:
                        ttft = last
                if b'"usage":{' in line or b'"usage": {' in line:
                    tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    tokens = tokens if tokens is not None else chunks
    tpot = (last - ttft) / (tokens - 1) if ttft is not None and tokens > 1 else None
    return ttft if ttft is not None else time.perf_counter() - start, tokens, tpot


def run_level(args, concurrency):
    remaining = [max(args.min_requests, args.requests_per_client * concurrency)]
    lock = threading.Lock()
    results = []

    def client(i):
        rng = random.Random(1000 * concurrency + i)
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            results.append(one_request(args, rng))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ttfts = [r[0] for r in results]
    tpots = [r[2] for r in results if r[2] is not None]
    tpot = f"{1000 * statistics.median(tpots):.2f}" if tpots else "-"
    return (f"| {concurrency} | {len(results)} | {len(results) / elapsed:.2f} | {sum(r[1] for r in results) / elapsed:.1f} | "
            f"{1000 * statistics.median(ttfts):.0f} | {1000 * percentile(ttfts, 0.99):.0f} | {tpot} |")


def against_tg128(args):
    """Rounds of concurrency-1 requests, each followed by `bench latency` tg128 of args.peregrine."""
    rng = random.Random(7)
    n = args.output_len
    print(f"| round | generation tokens/s (concurrency 1, {args.requests_per_client} requests) | tg{n} (bench latency) | ratio |")
    print("|---:|---:|---:|---:|")
    ratios = []
    for r in range(args.against_tg128):
        start, tokens = time.perf_counter(), 0
        for _ in range(args.requests_per_client):
            tokens += one_request(args, rng)[1]
        served = tokens / (time.perf_counter() - start)
        out = subprocess.run([args.peregrine, "bench", "latency", "-p", "0", "-n", str(n), "-r", "2", "--json"],
                             check=True, capture_output=True, text=True).stdout
        tg = json.loads(out.strip().splitlines()[-1])[f"tg{n}"]
        ratios.append(served / tg)
        print(f"| {r + 1} | {served:.1f} | {tg:.1f} | {served / tg:.3f} |", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f} over {len(ratios)} rounds "
          f"({sum(x >= 0.9 for x in ratios)} at or above 0.9)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", default="none")
    p.add_argument("--model", required=True)
    p.add_argument("--peregrine")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0, help="0 (greedy) as vLLM's serving benchmark uses")
    p.add_argument("--requests-per-client", type=int, default=3)
    p.add_argument("--min-requests", type=int, default=8)
    p.add_argument("--label", default="peregrine serve")
    p.add_argument("--against-tg128", type=int, metavar="ROUNDS",
                   help="rounds of concurrency 1 against --peregrine's `bench latency` tg(--output-len), in turn")
    args = p.parse_args()
    one_request(args, random.Random(0))  # warm-up
    if args.against_tg128:
        if not args.peregrine:
            p.error("--against-tg128 needs --peregrine")
        return against_tg128(args)
    print(f"{args.label}: streaming chat, {args.output_len} generated tokens per request (EOS ignored), "
          f"temperature {args.temperature}")
    print("| concurrency | requests | requests/s | generation tokens/s | TTFT p50 (ms) | TTFT p99 (ms) | TPOT p50 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for c in args.concurrency:
        print(run_level(args, c), flush=True)


if __name__ == "__main__":
    main()
