#!/usr/bin/env python3
"""Soak test for `peregrine serve` (run it with Scripts/serve_check.sh): many concurrent streaming
chat clients for a while, a quarter of them hanging up mid-stream. Passes when every request that
was not dropped on purpose succeeded, the server stayed healthy, and at the end /metrics shows no
running or waiting request and the whole KV cache free.

    Scripts/serve_check.sh Scripts/soak.py --duration 60 --clients 64
"""
import argparse
import asyncio
import json
import random
import sys
import time

import urllib.request

import openai

PROMPTS = [
    "Write a haiku about a falcon.", "What is the boiling point of water?", "Name three primary colours.",
    "Explain what a CPU cache is in one paragraph.", "List the days of the week.", "Tell me a short story about a robot.",
    "Why is the sky blue?", "Give me a recipe for pancakes.", "What is 12 times 12?", "Translate 'good morning' to French.",
]


async def client_loop(client, args, index, deadline, stats):
    rng = random.Random(index)
    hangs_up = index % 4 == 0
    while time.monotonic() < deadline:
        drop_after = rng.randint(1, 8) if hangs_up else None
        try:
            stream = await client.chat.completions.create(
                model=args.model, stream=True, max_tokens=rng.randint(8, 64), temperature=0.7, seed=rng.randint(0, 1 << 30),
                messages=[{"role": "user", "content": rng.choice(PROMPTS)}], stream_options={"include_usage": True})
            chunks, finished = 0, False
            async for chunk in stream:
                if chunk.usage:
                    stats["tokens"] += chunk.usage.completion_tokens
                    finished = True
                chunks += 1
                if drop_after is not None and chunks >= drop_after:
                    break
            await stream.close()
            if drop_after is not None and not finished:
                stats["dropped"] += 1
            elif finished:
                stats["completed"] += 1
            else:
                stats["errors"].append("stream ended without usage")
        except openai.OpenAIError as e:
            stats["errors"].append(f"{type(e).__name__}: {e}")


def get(url, api_key=""):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", default="")
    p.add_argument("--model", required=True)
    p.add_argument("--peregrine")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--clients", type=int, default=64)
    args = p.parse_args()
    stats = {"completed": 0, "dropped": 0, "tokens": 0, "errors": []}
    client = openai.AsyncOpenAI(base_url=args.base_url + "/v1", api_key=args.api_key or "none", max_retries=0, timeout=600)
    start = time.monotonic()
    deadline = start + args.duration
    await asyncio.gather(*(client_loop(client, args, i, deadline, stats) for i in range(args.clients)))
    elapsed = time.monotonic() - start
    health, _ = await asyncio.to_thread(get, args.base_url + "/health")
    # The engine frees an aborted request's blocks in its next loop turn; give it a moment.
    for _ in range(50):
        _, text = await asyncio.to_thread(get, args.base_url + "/metrics")
        idle = [metric(text, "peregrine:num_requests_running"), metric(text, "peregrine:num_requests_waiting"),
                metric(text, "peregrine:kv_cache_usage_perc")]
        if idle == [0, 0, 0]:
            break
        await asyncio.sleep(0.1)
    print(f"soak: {args.clients} clients for {elapsed:.0f} s: {stats['completed']} completed, {stats['dropped']} dropped mid-stream, "
          f"{len(stats['errors'])} errors, {stats['tokens']} tokens in completed streams "
          f"({stats['completed'] / elapsed:.2f} requests/s, {stats['tokens'] / elapsed:.1f} tokens/s)")
    print(f"after: health {health}, running {idle[0]:.0f}, waiting {idle[1]:.0f}, KV cache usage {idle[2]}")
    for error in stats["errors"][:10]:
        print("  error:", error)
    ok = not stats["errors"] and health == 200 and idle == [0, 0, 0] and stats["completed"] > 0 and stats["dropped"] > 0
    print("soak passed" if ok else "soak FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
