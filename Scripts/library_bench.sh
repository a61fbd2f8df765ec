#!/usr/bin/env bash
# The library user's speed against the CLI's: Examples/LibraryConsumer (plain `swift build -c
# release`, no CPU flags) and the `make build` binary, pp512 and tg128, interleaved rounds.
#
#   Scripts/library_bench.sh [ROUNDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} threads=${2:-2}
(cd Examples/LibraryConsumer && swift build -c release >/dev/null)
for round in $(seq "$rounds"); do
    lib=$(Examples/LibraryConsumer/.build/release/LibraryConsumer --threads "$threads" --repetitions 3 2>/dev/null | tail -1)
    cli=$(.build/release/peregrine bench latency -t "$threads" -r 3 2>/dev/null | grep -E '^(pp|tg)' | sed 's/ (min.*//' | tr '\n' ' ')
    python3 - "$lib" "$cli" "$round" <<'PY'
import re, sys
lib, cli, rnd = sys.argv[1:]
num = lambda text, key: float(re.search(key + r":? ([0-9.]+)", text).group(1))
pairs = [(k, num(lib, k), num(cli, k)) for k in ("pp512", "tg128")]
print(f"round {rnd}: " + ", ".join(f"{k} library {a:.1f} / make build {b:.1f} = {a / b:.2f}" for k, a, b in pairs))
PY
done
