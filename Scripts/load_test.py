#!/usr/bin/env python3
"""Load figures for an OpenAI-compatible server (`peregrine serve`, `llama-server`, vLLM): at each
concurrency, that many clients send streaming chat requests back to back (fixed output length);
reports requests/s, generation tokens/s and TTFT p50/p99 (time to the first content chunk).

    Scripts/serve_check.sh Scripts/load_test.py --concurrency 1 8 32
    python3 Scripts/load_test.py --base-url http://127.0.0.1:8080 --model x --concurrency 1 8 32   # any server
"""
import argparse
import asyncio
import random
import statistics
import time

import openai

PROMPTS = [
    "Write a haiku about a falcon.", "What is the boiling point of water?", "Name three primary colours.",
    "Explain what a CPU cache is in one paragraph.", "List the days of the week.", "Tell me a short story about a robot.",
    "Why is the sky blue?", "Give me a recipe for pancakes.", "What is 12 times 12?", "Translate 'good morning' to French.",
]


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def one_request(client, args, rng):
    start = time.perf_counter()
    ttft = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=args.model, stream=True, max_tokens=args.output_len, temperature=0.8, seed=rng.randint(0, 1 << 30),
        messages=[{"role": "user", "content": rng.choice(PROMPTS)}], stream_options={"include_usage": True},
        extra_body={"ignore_eos": True})
    async for chunk in stream:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - start
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return ttft if ttft is not None else time.perf_counter() - start, tokens


async def run_level(client, args, concurrency):
    total = max(args.min_requests, args.requests_per_client * concurrency)
    queue = list(range(total))
    results = []

    async def worker(i):
        rng = random.Random(1000 * concurrency + i)
        while queue:
            queue.pop()
            results.append(await one_request(client, args, rng))

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    ttfts = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    return {"concurrency": concurrency, "requests": len(results), "seconds": elapsed, "requests_per_s": len(results) / elapsed,
            "generation_tokens_per_s": tokens / elapsed, "ttft_p50_ms": 1000 * statistics.median(ttfts),
            "ttft_p99_ms": 1000 * percentile(ttfts, 0.99)}


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", default="none")
    p.add_argument("--model", required=True)
    p.add_argument("--peregrine")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--requests-per-client", type=int, default=3)
    p.add_argument("--min-requests", type=int, default=8)
    p.add_argument("--label", default="peregrine serve")
    args = p.parse_args()
    client = openai.AsyncOpenAI(base_url=args.base_url + "/v1", api_key=args.api_key, max_retries=0, timeout=1200)
    await one_request(client, args, random.Random(0))  # warm-up
    print(f"{args.label}: streaming chat, {args.output_len} generated tokens per request (EOS ignored)")
    print("| concurrency | requests | requests/s | generation tokens/s | TTFT p50 (ms) | TTFT p99 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for c in args.concurrency:
        r = await run_level(client, args, c)
        print(f"| {c} | {r['requests']} | {r['requests_per_s']:.2f} | {r['generation_tokens_per_s']:.1f} | "
              f"{r['ttft_p50_ms']:.0f} | {r['ttft_p99_ms']:.0f} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
