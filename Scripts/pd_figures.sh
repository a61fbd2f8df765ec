#!/usr/bin/env bash
# Disaggregation figures on two "hosts" (Scripts/pd_netns.sh: namespaces pgp and pgd over a veth
# pair shaped to RATE): the transport's throughput, the share of the KV transfer hidden behind
# prefill, and a mixed workload served colocated (one instance, 2 threads on cores 0-1) and
# disaggregated (prefill on core 0, decode on core 1, 1 thread each, behind `peregrine proxy`).
# Every instance maps its KV pool at start (--populate-kv-cache): on this VM a first touch of
# memory costs about 2.5 ms per MB, which would otherwise land in whichever step first uses a
# block. Needs root and the default model.
#
#   Scripts/pd_figures.sh [RATE] [SECONDS] [ROUNDS]       # e.g. 10gbit 45 3  (rounds alternate the two)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1gbit} duration=${2:-45} rounds=${3:-3}
peregrine=$(pwd)/${PEREGRINE:-.build/release/peregrine}
gbits=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+(?:\.\d+)?)([gm])bit', sys.argv[1]); print(float(m[1]) / (1 if m[2]=='g' else 1000))" "$rate")
Scripts/pd_netns.sh up "$rate"
trap 'jobs -p | xargs -r kill 2>/dev/null; Scripts/pd_netns.sh down' EXIT
healthy() { for _ in $(seq 600); do ip netns exec "$1" curl -sf "$2/health" >/dev/null && return; sleep 0.1; done; echo "$2 never healthy" >&2; exit 1; }
stop() { jobs -p | xargs -r kill 2>/dev/null || true; wait 2>/dev/null || true; }

# One layer of a 1k-token prompt's blocks (64 blocks of 12 KiB): the frame the connector sends.
for round in 1 2 3; do
    echo "== transport at $rate, round $round"
    ip netns exec pgd taskset -c 1 "$peregrine" bench transport --listen 9500 --frame-bytes 786432 &
    sleep 1
    ip netns exec pgp taskset -c 0 "$peregrine" bench transport --connect 10.77.0.2:9500 --megabytes 1000 --frame-bytes 786432
    wait
done

serve=(serve --served-model-name smollm2 --log-level warning --populate-kv-cache)
producer='{"kv_connector":"TCPConnector","kv_role":"kv_producer"}'
consumer='{"kv_connector":"TCPConnector","kv_role":"kv_consumer","kv_ip":"10.77.0.2","kv_port":9600}'
results=$(mktemp)
disaggregated() {
    ip netns exec pgp taskset -c 0 "$peregrine" "${serve[@]}" --threads 1 --host 10.77.0.1 --port 8100 --kv-transfer-config "$producer" &
    ip netns exec pgd taskset -c 1 "$peregrine" "${serve[@]}" --threads 1 --host 10.77.0.2 --port 8200 --kv-transfer-config "$consumer" &
    healthy pgp http://10.77.0.1:8100
    healthy pgd http://10.77.0.2:8200
    ip netns exec pgd "$peregrine" proxy --prefill http://10.77.0.1:8100 --decode http://10.77.0.2:8200 --host 10.77.0.2 --port 8000 2>/dev/null &
    healthy pgd http://10.77.0.2:8000
    sleep 15  # the pools are mapped
    if [[ $1 == 1 ]]; then
        echo "== KV transfer hidden behind prefill at $rate"
        ip netns exec pgd python3 Scripts/pd_hidden.py --proxy http://10.77.0.2:8000 --decode http://10.77.0.2:8200 --link-gbits "$gbits"
    fi
    echo "== mixed workload, disaggregated at $rate, round $1"
    ip netns exec pgd python3 Scripts/pd_bench.py --base-url http://10.77.0.2:8000 --duration "$duration" --label disaggregated | tee -a "$results"
    stop
}
colocated() {
    ip netns exec pgd taskset -c 0,1 "$peregrine" "${serve[@]}" --threads 2 --host 10.77.0.2 --port 8000 &
    healthy pgd http://10.77.0.2:8000
    sleep 15
    echo "== mixed workload, colocated, round $1"
    ip netns exec pgd python3 Scripts/pd_bench.py --base-url http://10.77.0.2:8000 --duration "$duration" --label colocated | tee -a "$results"
    stop
}
for round in $(seq "$rounds"); do
    disaggregated "$round"
    colocated "$round"
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
med = lambda label, key: statistics.median(r["short"][key] for r in runs if r["label"] == label)
for label in ("colocated", "disaggregated"):
    print(f"{label}: median of {sum(r['label'] == label for r in runs)} rounds: short TPOT p50 {med(label, 'tpot_p50_ms'):.1f} ms, "
          f"p99 {med(label, 'tpot_p99_ms'):.1f} ms; short TTFT p99 {med(label, 'ttft_p99'):.2f} s")
print(f"short TPOT p99 colocated / disaggregated: {med('colocated', 'tpot_p99_ms') / med('disaggregated', 'tpot_p99_ms'):.2f}x")
PY
