#!/usr/bin/env bash
# Fuzzes the live API with schemathesis over its own /openapi.json: no 5xx, every response
# conforms to its documented schema, status and content type, undeclared methods get 405; then
# the server must still be healthy with nothing running and the KV pool free.
#
#   Scripts/api_fuzz.sh [max-examples per operation, default 40]
#
# Serves the default model with --max-model-len 256 (so generated max_tokens stay short).
# Environment: PEREGRINE  the binary (default .build/release/peregrine)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-40}
peregrine=${PEREGRINE:-.build/release/peregrine}
command -v schemathesis >/dev/null || python3 -m pip install -q "schemathesis==4.32.5"

log=$(mktemp)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$peregrine" serve --port "$port" --max-model-len 256 --log-level warning > "$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 300); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

schemathesis run "$base/openapi.json" --max-examples "$examples" --workers 1 --seed 1 --request-timeout 60 \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance,response_headers_conformance,unsupported_method \
    --suppress-health-check all

python3 - "$base" <<'PY'
import json, re, sys, time, urllib.request
base = sys.argv[1]
for _ in range(100):
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    value = lambda name: float(re.search(rf"^peregrine:{name}\{{[^}}]*\}} (\S+)$", metrics, re.M).group(1))
    if value("num_requests_running") == 0 and value("num_requests_waiting") == 0 and value("kv_cache_usage_perc") == 0:
        break
    time.sleep(0.1)
else:
    sys.exit(f"api_fuzz: requests still running or KV blocks held after the fuzz")
health = json.load(urllib.request.urlopen(base + "/health"))
assert health == {"status": "ok"}, health
print("api_fuzz: server healthy afterwards, nothing running, KV pool free")
PY
