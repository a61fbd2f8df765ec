#!/usr/bin/env bash
# EPLB on live traffic: a skewed synthetic MoE model served with --enable-eplb, its balancedness
# over 8 simulated ranks from /metrics before and after the first rebalance, the recorded load
# from GET /v1/eplb/load through `peregrine eplb` into the HTML report, screenshotted in Chromium.
#
#   Scripts/eplb_live_check.sh [output-dir]
#
# 1. `peregrine make-moe` writes a small qwen3moe file (4 layers, 64 experts, top 8) whose router
#    favours a few hot experts (--router-skew 4);
# 2. `peregrine serve --enable-eplb` with 8 redundant slots over 8 ranks, a rebalance every 200
#    steps over a 100-step window;
# 3. rounds of 8 concurrent greedy completions (Python, standard library): /metrics is read after
#    the first round (before any rebalance) and after a round that followed the first rebalance
#    (and ended before a second); the mean balancedness must have risen;
# 4. the load from /v1/eplb/load goes through `peregrine eplb --html`; Chromium screenshots the page.
#
# Environment: PEREGRINE  the binary (default .build/release/peregrine)
#              CHROMIUM   the browser (default: chromium, chromium-browser or google-chrome on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
peregrine=${PEREGRINE:-.build/release/peregrine}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}

"$peregrine" make-moe "$out/moe.gguf" --layers 4 --experts 64 --experts-used 8 --hidden 256 --heads 4 --kv-heads 2 \
    --head-dim 64 --expert-feed-forward 256 --router-skew 4 --seed 7
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$peregrine" serve --model "$out/moe.gguf" --port "$port" --kv-cache-memory 64 --enable-eplb \
    --eplb-config '{"window_size":100,"step_interval":200,"num_redundant_experts":8,"num_ranks":8,"log_balancedness":true}' \
    > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

python3 - "$port" "$out" <<'PY'
import concurrent.futures, json, random, re, sys, time, urllib.request
port, out = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("eplb_live_check: the server did not come up")

rng = random.Random(11)
def complete(tokens):
    prompt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(24))
    body = json.dumps({"prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", body, {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))

def round_of(tokens):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: complete(tokens), range(8)))

def metrics():
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    layers = [float(v) for v in re.findall(r'^peregrine:eplb_balancedness\{[^}]*\} (\S+)$', text, re.M)]
    rebalances = float(re.search(r'^peregrine:eplb_rebalances_total\{[^}]*\} (\S+)$', text, re.M).group(1))
    return sum(layers) / len(layers), layers, rebalances

# The first round stays well short of the first rebalance (step 200) even when its requests
# arrive spread over many steps (fast steps: a 60-token round once took over 100 of them).
round_of(60)
before, before_layers, r0 = metrics()
# Short rounds up to the first rebalance, so that at most ~15 steps pass it; the measured round
# then ends well before the second (step 400) however its requests are batched.
while metrics()[2] < 1:
    round_of(10)
round_of(50)
after, after_layers, r1 = metrics()
print(f"balancedness over 8 ranks, mean of {len(before_layers)} layers: before the first rebalance {before:.3f} "
      f"(per layer {', '.join(f'{v:.3f}' for v in before_layers)}), after {after:.3f} "
      f"(per layer {', '.join(f'{v:.3f}' for v in after_layers)}); rebalances {r0:.0f} then {r1:.0f}")
if r0 != 0 or r1 != 1:
    sys.exit("eplb_live_check: expected no rebalance before and exactly one after")
if not after > before:
    sys.exit("eplb_live_check: balancedness did not improve after the rebalance")
open(f"{out}/load.json", "wb").write(urllib.request.urlopen(base + "/v1/eplb/load").read())
PY
grep "EPLB: rebalanced" "$out/serve.log"

"$peregrine" eplb --load "$out/load.json" --replicas 72 --gpus 8 --out "$out/mapping.json" --html "$out/report.html"
if [[ -z "$browser" ]]; then
    echo "eplb_live_check: no Chromium, report not screenshotted: $out/report.html"
    exit 0
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --screenshot="$out/report.png" "file://$out/report.html" 2> "$out/chromium.log" || true
python3 - "$out/report.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
print(f"eplb_live_check: report screenshot {width}x{height}, {len(data)} bytes: {sys.argv[1]}")
PY
