#!/usr/bin/env python3
"""How much of the prefill-to-decode KV transfer hides behind the prefill's compute: long prompts
sent one at a time through `peregrine proxy`; the decode instance's `/metrics` give the time its
requests waited for their KV (from block allocation to the transfer's end) and the bytes that
came. Hidden share = 1 - wait / (bytes at the link rate).

    python3 Scripts/pd_hidden.py --proxy http://10.77.0.2:8000 --decode http://10.77.0.2:8200 --link-gbits 1
"""
import argparse, json, random, re, time, urllib.request

WORDS = ("the of and to in is was for on that with as by at from his her an which it be are this had were or but not they have "
         "one their all been has when more also who there other into after than its would time two first can only new about").split()


def metric(base, key, name):
    req = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"})
    text = urllib.request.urlopen(req, timeout=10).read().decode()
    m = re.search(rf"^peregrine:{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--decode", required=True, help="the decode instance's base URL (its /metrics)")
    p.add_argument("--api-key", default="none")
    p.add_argument("--model", default="smollm2")
    p.add_argument("--link-gbits", type=float, required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--words", type=int, default=900, help="words per prompt (about 1k tokens)")
    args = p.parse_args()
    rng = random.Random()  # new prompts each run: no prefix hits from an earlier one
    names = ["kv_transfer_load_seconds_total", "kv_transfer_loaded_bytes_total", "kv_transfer_loaded_blocks_total", "kv_load_failures_total"]
    walls = []
    # Request -1 warms the decode instance up (its KV pool's first pages are mapped on first touch).
    for i in range(-1, args.count):
        if i == 0:
            before = {n: metric(args.decode, args.api_key, n) for n in names}
        prompt = f"Request {i} of run {rng.random()}. " + " ".join(rng.choice(WORDS) for _ in range(args.words)) + "\nSummarise the text."
        body = json.dumps({"model": args.model, "prompt": prompt, "max_tokens": 2, "temperature": 0}).encode()
        req = urllib.request.Request(f"{args.proxy}/v1/completions", data=body,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {args.api_key}"})
        start = time.perf_counter()
        urllib.request.urlopen(req, timeout=300).read()
        if i >= 0:
            walls.append(time.perf_counter() - start)
    after = {n: metric(args.decode, args.api_key, n) for n in names}
    d = {n: after[n] - before[n] for n in names}
    wait = d["kv_transfer_load_seconds_total"] / args.count
    size = d["kv_transfer_loaded_bytes_total"] / args.count
    link = size * 8 / (args.link_gbits * 1e9)
    print(f"{args.count} prompts of ~{args.words} words: {size / 1e6:.1f} MB of KV each ({d['kv_transfer_loaded_blocks_total'] / args.count:.0f} blocks), "
          f"{d['kv_load_failures_total']:.0f} load failures; request {sum(walls) / len(walls) * 1e3:.0f} ms end to end")
    print(f"decode waited {wait * 1e3:.1f} ms per request for its KV; the link needs {link * 1e3:.1f} ms at {args.link_gbits:g} Gbit/s: "
          f"{max(0.0, 1 - wait / link) * 100:.0f}% of the transfer hidden behind prefill")


if __name__ == "__main__":
    main()
