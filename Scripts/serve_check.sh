#!/usr/bin/env bash
# Starts `peregrine serve` on a free port with an API key, waits for /health, runs a Python check
# script against it, then stops the server with SIGTERM and requires a clean exit (status 0).
#
#   Scripts/serve_check.sh Scripts/openai_client_check.py
#   Scripts/serve_check.sh Scripts/soak.py --duration 60
#
# The script gets --base-url, --api-key, --model and --peregrine, then any further arguments.
# PEREGRINE (default .build/release/peregrine) and SERVE_ARGS (extra `serve` options) can be set.
set -euo pipefail
cd "$(dirname "$0")/.."
PEREGRINE=${PEREGRINE:-.build/release/peregrine}
script=$1
shift
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="sk-peregrine-check-$RANDOM$RANDOM"
log=$(mktemp)
# shellcheck disable=SC2086
"$PEREGRINE" serve --port "$port" --api-key "$key" --served-model-name smollm2 --log-level notice ${SERVE_ARGS:-} >"$log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; rm -f "$log"' EXIT

python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health"
for _ in range(600):
    try:
        if urllib.request.urlopen(url, timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("peregrine serve did not become healthy in 60 s")
PY

status=0
python3 "$script" --base-url "http://127.0.0.1:$port" --api-key "$key" --model smollm2 --peregrine "$PEREGRINE" "$@" || status=$?

kill -TERM "$pid"
exit_code=0
wait "$pid" || exit_code=$?
if [ "$exit_code" -ne 0 ]; then
    echo "peregrine serve exited with status $exit_code after SIGTERM; its log:" >&2
    cat "$log" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "server log:" >&2
    tail -n 40 "$log" >&2
fi
exit "$status"
