#!/usr/bin/env python3
"""Expert parallelism across processes, checked with the official `openai` client.

On a small skewed synthetic MoE model (`peregrine make-moe`), starts a one-process reference
instance and instances whose routed experts run on expert worker processes, then checks:

- greedy outputs of `serve --expert-parallel-size P` (P = 2, and 4 with the two-batch overlap, EPLB
  rebalancing every few steps with redundant experts) equal the reference's: completions streaming
  and not, batched;
- the placement really changed while requests ran (eplb_rebalances_total, placements) and every
  rank computed rows (expert_parallel_rows_total);
- workers started by hand (`peregrine expert-worker --listen`) and attached by address
  (`--expert-workers`) give the same outputs; so does `generate --expert-parallel-size 2`;
- a killed worker: the request in flight and the next ones fail with a clear 503 error, /health
  reports the degraded state, the server stays up, and /metrics shows every KV block free;
- with `replace_dead_ranks`, a killed worker's experts move to the live one: after the failed step
  the answers are the reference's again and /health says degraded with 200;
- the placement in force (GET /v1/eplb/placement) renders as `peregrine eplb --placement` HTML.

    python3 Scripts/ep_check.py [--peregrine .build/release/peregrine]
"""
import argparse, concurrent.futures, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

import openai

import live_processes
from live_processes import check, free_port, wait_healthy


KEY = "sk-ep-check"
PROMPTS = ["The expert said", "Once upon a time in a land", "def parse(tokens):", "Rain fell on the quiet town and",
           "1, 2, 3, 4,", "She opened the door"]


def Process(args, name):
    return live_processes.Process(args, name, prefix="ep")


def metric(port, name, labels=""):
    return live_processes.metric(port, KEY, name, labels)


def outputs(port):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=120)

    def one(prompt):
        return client.completions.create(model="moe", prompt=prompt, max_tokens=24, temperature=0).choices[0].text

    with concurrent.futures.ThreadPoolExecutor(len(PROMPTS)) as pool:
        batched = list(pool.map(one, PROMPTS))
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="moe", prompt=PROMPTS[0], max_tokens=24, temperature=0, stream=True))
    return batched, streamed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peregrine", default=os.environ.get("PEREGRINE", ".build/release/peregrine"))
    args = ap.parse_args()
    b = args.peregrine
    work = tempfile.mkdtemp(prefix="ep-check-")
    model = f"{work}/moe.gguf"
    subprocess.run([b, "make-moe", model, "--layers", "4", "--experts", "16", "--experts-used", "4", "--hidden", "256", "--heads", "4",
                    "--kv-heads", "2", "--head-dim", "64", "--expert-feed-forward", "256", "--router-skew", "4", "--seed", "5"],
                   check=True, stdout=subprocess.DEVNULL)
    common = [b, "serve", "--model", model, "--api-key", KEY, "--served-model-name", "moe", "--threads", "1", "--log-level", "notice",
              "--kv-cache-memory", "32"]
    eplb = ["--enable-eplb", "--eplb-config", '{"window_size":20,"step_interval":10,"num_redundant_experts":4}']
    procs = {}
    try:
        r_port = free_port()
        procs["reference"] = Process([*common, "--port", str(r_port)], "reference")
        wait_healthy(r_port, "reference")
        reference = outputs(r_port)
        check(len(set(reference[0])) > 1, "the reference answers differ from prompt to prompt")

        for p in (2, 4):
            port = free_port()
            overlap = ["--enable-two-batch-overlap"] if p == 4 else []
            procs[f"ep{p}"] = Process([*common, "--port", str(port), "--expert-parallel-size", str(p), *eplb, *overlap], f"ep{p}")
            wait_healthy(port, f"ep{p}")
            check(outputs(port) == reference, f"--expert-parallel-size {p} {' '.join(overlap)}: greedy outputs equal the one-process instance's")
            outputs(port)  # more steps, more rebalances
            check((metric(port, "eplb_rebalances_total") or 0) >= 1, f"P = {p}: the placement changed live while requests ran")
            check((metric(port, "expert_parallel_placements_total") or 0) >= 2, f"P = {p}: the workers took the new placements")
            rows = [metric(port, "expert_parallel_rows_total", f'rank="{r}"') or 0 for r in range(p)]
            check(all(n > 0 for n in rows), f"P = {p}: every rank computed rows ({', '.join(f'{n:.0f}' for n in rows)})")
            check(metric(port, "kv_cache_usage_perc") == 0.0, f"P = {p}: every KV block free")
            if p == 4:
                def get(path):
                    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {KEY}"})
                    return urllib.request.urlopen(req, timeout=5).read()
                open(f"{work}/load.json", "wb").write(get("/v1/eplb/load"))
                open(f"{work}/placement.json", "wb").write(get("/v1/eplb/placement"))
                report = subprocess.run([b, "eplb", "--load", f"{work}/load.json", "--placement", f"{work}/placement.json",
                                         "--html", f"{work}/report.html"], capture_output=True, text=True)
                check(report.returncode == 0 and os.path.getsize(f"{work}/report.html") > 1000,
                      f"the live placement renders with eplb --placement ({report.stdout.strip().splitlines()[0] if report.stdout else report.stderr})")
            procs.pop(f"ep{p}").stop()

        # replace_dead_ranks: a worker killed, its experts placed on the live ones.
        port = free_port()
        procs["recover"] = Process([*common, "--port", str(port), "--expert-parallel-size", "2", "--enable-eplb", "--eplb-config",
                                    '{"window_size":20,"step_interval":1000,"num_redundant_experts":16,"replace_dead_ranks":true}'], "recover")
        wait_healthy(port, "recover")
        check(outputs(port) == reference, "replace_dead_ranks instance: outputs equal the reference's")
        workers = subprocess.run(["pgrep", "-P", str(procs["recover"].proc.pid)], capture_output=True, text=True).stdout.split()
        check(len(workers) == 2, f"the front started two worker processes ({', '.join(workers)})")
        os.kill(int(workers[1]), signal.SIGKILL)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=60)
        failed = 0
        for _ in range(5):
            try:
                client.completions.create(model="moe", prompt=PROMPTS[3], max_tokens=8, temperature=0)
                break
            except openai.APIStatusError as e:
                failed += 1
        check(failed <= 1, f"after the kill at most the step in flight failed ({failed})")
        check(outputs(port) == reference, "after re-placing the dead rank's experts, outputs equal the reference's")
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
        check(health.status == 200 and b"degraded" in health.read(), "/health: 200 degraded while serving on the live worker")
        check(metric(port, "kv_cache_usage_perc") == 0.0, "every KV block free after the recovery")
        procs.pop("recover").stop()

        # Workers started by hand, attached by address.
        w_ports = [free_port(), free_port()]
        for i, wp in enumerate(w_ports):
            procs[f"worker{i}"] = Process([b, "expert-worker", "--model", model, "--listen", f"127.0.0.1:{wp}", "--threads", "1"], f"worker{i}")
        a_port = free_port()
        procs["attached"] = Process([*common, "--port", str(a_port), "--expert-workers", ",".join(f"127.0.0.1:{wp}" for wp in w_ports)],
                                    "attached")
        wait_healthy(a_port, "attached")
        check(outputs(a_port) == reference, "--expert-workers (attached by TCP address): greedy outputs equal the one-process instance's")

        gen = [b, "generate", "--model", model, "--threads", "1", "--prompt", PROMPTS[1], "--max-tokens", "24", "--temperature", "0"]
        plain = subprocess.run(gen, capture_output=True, text=True, check=True).stdout
        spread = subprocess.run([*gen, "--expert-parallel-size", "2"], capture_output=True, text=True, check=True).stdout
        check(plain == spread and plain.strip(), "generate --expert-parallel-size 2 prints the same text")

        # A worker killed: requests fail with a clear error, the front stays up, nothing leaks.
        procs["worker1"].kill()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{a_port}/v1", api_key=KEY, max_retries=0, timeout=60)
        try:
            client.completions.create(model="moe", prompt=PROMPTS[2], max_tokens=24, temperature=0)
            check(False, "a request with a dead expert worker fails")
        except openai.APIStatusError as e:
            check(e.status_code == 503 and "expert worker 1" in e.message, f"a dead expert worker: 503 with a clear message ({e.message})")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{a_port}/health", timeout=5)
            check(False, "/health reports the degraded state")
        except urllib.error.HTTPError as e:
            check(e.code == 503 and b"degraded" in e.read(), "/health answers 503 degraded")
        check(metric(a_port, "expert_parallel_worker_up", 'rank="1"') == 0.0, "/metrics: rank 1 down")
        check((metric(a_port, "expert_parallel_failed_steps_total") or 0) >= 1, "/metrics: the failed step is counted")
        check(metric(a_port, "kv_cache_usage_perc") == 0.0 and metric(a_port, "num_requests_running") == 0.0,
              "after the fault every KV block is free and nothing runs")
        models = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{a_port}/v1/models",
                                                               headers={"Authorization": f"Bearer {KEY}"}), timeout=5)
        check(models.status == 200, "the front stays up")
    except BaseException:
        for p in procs.values():
            print(f"--- {p.name} log tail ---\n{p.tail()}", file=sys.stderr)
        raise
    finally:
        for p in procs.values():
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("ep-check: all checks passed")


if __name__ == "__main__":
    main()
