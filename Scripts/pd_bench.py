#!/usr/bin/env python3
"""A mixed workload for disaggregation figures (DistServe's measure): short chat requests decoding
back to back while long prompts arrive. Reports TTFT and TPOT p50/p99 per kind and goodput
(requests meeting both a TTFT and a TPOT target), for one OpenAI-compatible base URL (a colocated
`peregrine serve`, or `peregrine proxy` in front of prefill and decode instances).

    python3 Scripts/pd_bench.py --base-url http://10.77.0.2:8000 --duration 40 --label disaggregated
"""
import argparse, asyncio, json, random, statistics, time
from urllib.parse import urlsplit

SHORT = ["Write a haiku about a falcon.", "Name three primary colours.", "Why is the sky blue?", "List the days of the week."]
LONG_WORDS = ("the of and to in is was for on that with as by at from his her an which it be are this had were or but not they have "
              "one their all been has when more also who there other into after than its would time two first can only new about").split()


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def request(args, prompt, max_tokens, seed):
    url = urlsplit(args.base_url)
    body = json.dumps({"model": args.model, "stream": True, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
                       "seed": seed, "messages": [{"role": "user", "content": prompt}]}).encode()
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {args.api_key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()
    start = time.perf_counter()
    times = []
    status = await reader.readline()
    if b" 200 " not in status:
        writer.close()
        return None
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
            chunked = True

    async def body():
        # The body's bytes, with HTTP/1.1 chunked framing taken off.
        if not chunked:
            while data := await reader.read(65536):
                yield data
            return
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            yield await reader.readexactly(size)
            await reader.readline()

    buffer = b""
    async for data in body():
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    event_data = json.loads(line[6:])
                    if event_data.get("choices") and event_data["choices"][0]["delta"].get("content"):
                        times.append(time.perf_counter())
    writer.close()
    if not times:
        return None
    ttft = times[0] - start
    tpot = (times[-1] - times[0]) / max(len(times) - 1, 1)
    return ttft, tpot, len(times)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", default="none")
    p.add_argument("--model", default="smollm2")
    p.add_argument("--duration", type=float, default=40)
    p.add_argument("--short-clients", type=int, default=4)
    p.add_argument("--short-output", type=int, default=64)
    p.add_argument("--long-words", type=int, default=900, help="words of a long prompt (about 1k tokens)")
    p.add_argument("--long-every", type=float, default=3.0, help="seconds between long prompts")
    p.add_argument("--long-output", type=int, default=16)
    p.add_argument("--ttft-slo", type=float, default=2.0, help="TTFT target of short requests, seconds (long: 3x)")
    p.add_argument("--tpot-slo", type=float, default=0.05, help="TPOT target, seconds")
    p.add_argument("--label", default="")
    args = p.parse_args()
    rng = random.Random(7)
    results = {"short": [], "long": []}
    deadline = time.perf_counter() + args.duration

    async def short_client(i):
        while time.perf_counter() < deadline:
            r = await request(args, rng.choice(SHORT), args.short_output, rng.randint(0, 1 << 30))
            if r:
                results["short"].append(r)

    async def long_arrivals():
        tasks = []
        while time.perf_counter() < deadline:
            prompt = " ".join(rng.choice(LONG_WORDS) for _ in range(args.long_words))
            tasks.append(asyncio.create_task(request(args, prompt, args.long_output, rng.randint(0, 1 << 30))))
            await asyncio.sleep(args.long_every)
        for t in tasks:
            r = await t
            if r:
                results["long"].append(r)

    await asyncio.gather(long_arrivals(), *(short_client(i) for i in range(args.short_clients)))
    total = good = 0
    out = {"label": args.label}
    for kind in ("short", "long"):
        rs = results[kind]
        slo = args.ttft_slo * (3 if kind == "long" else 1)
        met = sum(1 for ttft, tpot, _ in rs if ttft <= slo and tpot <= args.tpot_slo)
        total += len(rs)
        good += met
        out[kind] = {"requests": len(rs), "ttft_p50": pct([r[0] for r in rs], .5), "ttft_p99": pct([r[0] for r in rs], .99),
                     "tpot_p50_ms": 1000 * pct([r[1] for r in rs], .5), "tpot_p99_ms": 1000 * pct([r[1] for r in rs], .99), "met_slo": met}
    out["goodput_share"] = good / max(total, 1)
    out["goodput_rps"] = good / args.duration
    print(json.dumps(out))


asyncio.run(main())
