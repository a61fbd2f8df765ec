#!/usr/bin/env python3
"""Prefill/decode disaggregation on loopback, checked with the official `openai` client.

Starts a prefill instance (TCPConnector kv_producer), a decode instance (kv_consumer), a colocated
reference instance and `peregrine proxy`, all with one API key, then checks:

- greedy outputs through the proxy equal the colocated instance's: completions and chat,
  streaming and not, with a prefix hit on the decode side, and with n = 2;
- the decode instance loaded the prompts' KV (kv_transfer_loaded_blocks_total grew) without failures;
- a prefill instance killed mid-transfer, and then none up at all: the decode instance computes the
  prompt and the answer is still the reference one;
- a decode instance that is down: the proxy answers 503 (or 502) in OpenAI's error shape;
- after every case both instances' /metrics show every KV block free.

    python3 Scripts/pd_check.py [--peregrine .build/release/peregrine]
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

import openai

import live_processes
from live_processes import check, free_port, wait_healthy


KEY = "sk-pd-check"


def Process(args, name):
    return live_processes.Process(args, name, prefix="pd")


def metric(port, name, labels=""):
    return live_processes.metric(port, KEY, name, labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peregrine", default=os.environ.get("PEREGRINE", ".build/release/peregrine"))
    args = ap.parse_args()
    b = args.peregrine
    p_port, d_port, r_port, x_port, kv_port = (free_port() for _ in range(5))
    common = ["serve", "--api-key", KEY, "--served-model-name", "smollm2", "--threads", "1", "--log-level", "notice"]
    producer = '{"kv_connector":"TCPConnector","kv_role":"kv_producer"}'
    consumer = json.dumps({"kv_connector": "TCPConnector", "kv_role": "kv_consumer", "kv_port": kv_port,
                           "kv_connector_extra_config": {"timeout_seconds": 5}})
    procs = {}
    try:
        procs["prefill"] = Process([b, *common, "--port", str(p_port), "--kv-transfer-config", producer], "prefill")
        procs["decode"] = Process([b, *common, "--port", str(d_port), "--kv-transfer-config", consumer], "decode")
        procs["reference"] = Process([b, *common, "--port", str(r_port)], "reference")
        for name, port in [("prefill", p_port), ("decode", d_port), ("reference", r_port)]:
            wait_healthy(port, name)
        procs["proxy"] = Process([b, "proxy", "--prefill", f"http://127.0.0.1:{p_port}", "--decode", f"http://127.0.0.1:{d_port}",
                                  "--port", str(x_port)], "proxy")
        wait_healthy(x_port, "proxy")
        proxy = openai.OpenAI(base_url=f"http://127.0.0.1:{x_port}/v1", api_key=KEY, max_retries=0, timeout=120)
        ref = openai.OpenAI(base_url=f"http://127.0.0.1:{r_port}/v1", api_key=KEY, max_retries=0, timeout=120)

        def blocks_free(port):
            return metric(port, "kv_cache_usage_perc") == 0.0

        def settle():
            for _ in range(50):
                if blocks_free(p_port) and blocks_free(d_port):
                    return True
                time.sleep(0.1)
            return False

        long_prompt = "The history of the Roman Empire spans many centuries, from the founding of the city to the fall of Constantinople. " * 24
        loaded_before = metric(d_port, "kv_transfer_loaded_blocks_total") or 0
        a = proxy.completions.create(model="smollm2", prompt=long_prompt, max_tokens=24, temperature=0)
        r = ref.completions.create(model="smollm2", prompt=long_prompt, max_tokens=24, temperature=0)
        check(a.choices[0].text == r.choices[0].text, "completion through the proxy equals the colocated one")
        loaded = (metric(d_port, "kv_transfer_loaded_blocks_total") or 0) - loaded_before
        check(loaded >= a.usage.prompt_tokens // 16 - 1, f"the decode instance loaded the prompt's KV ({loaded:.0f} blocks)")
        check(metric(d_port, "kv_load_failures_total") == 0, "no load failures")
        streamed = "".join(c.choices[0].text for c in proxy.completions.create(
            model="smollm2", prompt=long_prompt + " Then", max_tokens=24, temperature=0, stream=True))
        r2 = ref.completions.create(model="smollm2", prompt=long_prompt + " Then", max_tokens=24, temperature=0).choices[0].text
        check(streamed == r2, "streamed completion with a prefix hit equals the colocated one")
        messages = [{"role": "user", "content": "Name three Roman emperors and one thing each is known for."}]
        c = proxy.chat.completions.create(model="smollm2", messages=messages, max_tokens=40, temperature=0, n=2)
        rc = ref.chat.completions.create(model="smollm2", messages=messages, max_tokens=40, temperature=0).choices[0].message.content
        check([x.message.content for x in c.choices] == [rc, rc], "chat with n = 2 equals the colocated one")
        chunks = proxy.chat.completions.create(model="smollm2", messages=messages, max_tokens=40, temperature=0, stream=True)
        check("".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == rc, "streamed chat equals the colocated one")
        check(settle(), "every KV block free on both instances")
        proxy_metrics = urllib.request.urlopen(f"http://127.0.0.1:{x_port}/metrics", timeout=5).read().decode()
        served = re.search(r'^peregrine:proxy_requests_total{outcome="disaggregated"} ([0-9.]+)$', proxy_metrics, re.M)
        check(served is not None and float(served.group(1)) == 4, "the proxy's /metrics counts the four completions it disaggregated")
        models = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{x_port}/v1/models",
                                                               headers={"Authorization": f"Bearer {KEY}"}), timeout=5).read()
        check(json.loads(models)["data"][0]["id"] == "smollm2", "/v1/models through the proxy")

        # A prefill instance killed mid-transfer: the proxy's prefill call fails, so the decode
        # instance computes the prompt (the KV that had arrived is dropped when its transfer times
        # out; a producer that dies after the decode request is waiting is covered in process, by
        # KVDisaggregationTests).
        huge = "In the beginning there was a long prompt about the provinces and their governors. " * 60
        import threading
        result = {}

        def run():
            result["text"] = proxy.completions.create(model="smollm2", prompt=huge, max_tokens=16, temperature=0).choices[0].text

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.6)
        procs["prefill"].kill()
        t.join(120)
        expected = ref.completions.create(model="smollm2", prompt=huge, max_tokens=16, temperature=0).choices[0].text
        check(result.get("text") == expected, "a prefill instance killed mid-transfer: the answer is still the reference one")
        for _ in range(50):
            if blocks_free(d_port):
                break
            time.sleep(0.1)
        check(blocks_free(d_port), "every KV block free on the decode instance after the prefill died")
        # No prefill instance at all: the decode instance computes the prompt.
        time.sleep(3)
        solo = proxy.completions.create(model="smollm2", prompt=long_prompt, max_tokens=24, temperature=0).choices[0].text
        check(solo == a.choices[0].text, "with no prefill instance up, the decode instance computes the prompt")

        # A dead decode instance: 502/503 in OpenAI's error shape.
        procs["decode"].kill()
        time.sleep(3)
        try:
            proxy.completions.create(model="smollm2", prompt="Hello", max_tokens=4)
            check(False, "a request with the decode instance down fails")
        except openai.APIStatusError as e:
            body = e.response.json()
            check(e.status_code in (502, 503) and "message" in body.get("error", {}),
                  f"decode instance down: {e.status_code} with an OpenAI error body")
        print("pd_check: all passed")
    except SystemExit:
        for name, p in procs.items():
            print(f"--- {name} log ---\n{p.tail()}", file=sys.stderr)
        raise
    finally:
        for p in procs.values():
            p.stop()


if __name__ == "__main__":
    main()
