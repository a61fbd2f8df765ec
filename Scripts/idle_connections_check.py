#!/usr/bin/env python3
"""TTFT of normal traffic with 1,000 idle connections held open against `peregrine serve`.

    Scripts/idle_connections_check.py [--peregrine .build/release/peregrine] [--idle 1000] [--requests 20]

Starts the server (default model, --max-connections above --idle, --timeout-keep-alive 120 so the
idle connections stay for the run), measures the time to first token of --requests streaming
completions one after another with nothing else connected (quiet), then opens --idle TCP
connections that send nothing and measures again, interleaving quiet and loaded rounds. Prints
p50 TTFT of each and their ratio; exits 1 if the loaded p50 is more than 10% above the quiet one.
Standard library only.
"""
import argparse
import json
import resource
import socket
import statistics
import subprocess
import sys
import time


def ttft(port: int) -> float:
    """Seconds from sending a streaming completion to its first token's event."""
    body = json.dumps({"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0, "stream": True}).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head + body)
        received, first = b"", None
        while True:
            data = s.recv(65536)
            if not data:
                break
            received += data
            if first is None and b"data: {" in received:
                first = time.perf_counter() - start
            if b"[DONE]" in received:
                break
    if first is None:
        sys.exit(f"idle_connections_check: no token event in {received[:300]!r}")
    return first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peregrine", default=".build/release/peregrine")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.idle)), hard))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([args.peregrine, "serve", "--port", str(port), "--max-connections", str(args.idle + 64),
                               "--timeout-keep-alive", "120", "--log-level", "warning"])
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for _ in range(3):
            ttft(port)  # warm-up
        quiet, loaded = [], []
        idle = []
        for round_ in range(2):
            quiet += [ttft(port) for _ in range(args.requests // 2)]
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle)]
            time.sleep(0.5)
            loaded += [ttft(port) for _ in range(args.requests // 2)]
            for s in idle:
                s.close()
            time.sleep(0.5)
        q, l = statistics.median(quiet), statistics.median(loaded)
        print(f"TTFT p50: quiet {q * 1000:.1f} ms, with {args.idle} idle connections {l * 1000:.1f} ms: ratio {l / q:.3f}")
        if l > 1.10 * q:
            sys.exit("idle_connections_check: TTFT rose more than 10% with idle connections open")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
