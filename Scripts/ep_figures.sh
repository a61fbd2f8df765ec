#!/usr/bin/env bash
# Expert-parallel figures: a skewed synthetic MoE model decoded in batches with its experts on
# worker processes in network namespaces (Scripts/ep_netns.sh; front pinned to core 0, workers to
# core 1), with and without the two-batch overlap, then on simulated ranks (8, 32, 64) whose link
# is modelled at the same rate. Each run rebalances live and is compared with the first placement
# kept over the same steps (`peregrine bench expert-parallel`). Needs root.
#
#   Scripts/ep_figures.sh [RATE] [SEQUENCES]        # e.g. 10gbit 64
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10gbit} sequences=${2:-64}
peregrine=$(pwd)/${PEREGRINE:-.build/release/peregrine}
model=${MODEL:-/tmp/ep-figures-moe.gguf}
[[ -f $model ]] || "$peregrine" make-moe "$model" --layers 4 --experts 64 --experts-used 8 --hidden 1024 --heads 8 --kv-heads 2 \
    --head-dim 128 --expert-feed-forward 512 --router-skew 4 --seed 7 >/dev/null
gbits=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+(?:\.\d+)?)([gm])bit', sys.argv[1]); print(float(m[1]) / (1 if m[2]=='g' else 1000))" "$rate")
Scripts/ep_netns.sh up 4 "$rate" 0.1ms
trap 'jobs -p | xargs -r kill 2>/dev/null; Scripts/ep_netns.sh down' EXIT
bench=(bench expert-parallel --model "$model" --threads 1 --sequences "$sequences" --output-len 150 --enable-eplb)
# A placement every 60 steps from the last 30: the last one is measured on a window it served.
config() { echo "{\"window_size\":30,\"step_interval\":60,\"num_redundant_experts\":$1}"; }
for p in 2 4; do
    addresses=()
    for ((r = 0; r < p; r++)); do
        ip netns exec "epw$r" taskset -c 1 "$peregrine" expert-worker --model "$model" --listen "10.78.0.$((10 + r)):9400" --threads 1 \
            >/dev/null 2>&1 &
        addresses+=("10.78.0.$((10 + r)):9400")
    done
    sleep 1
    for overlap in "" --enable-two-batch-overlap; do
        echo "== $p worker processes at $rate ${overlap}"
        ip netns exec epf taskset -c 0 "$peregrine" "${bench[@]}" --eplb-config "$(config $((4 * p)))" \
            --expert-workers "$(IFS=,; echo "${addresses[*]}")" $overlap
    done
    jobs -p | xargs -r kill; wait 2>/dev/null || true
done
for p in 2 4 8 32 64; do
    echo "== $p simulated ranks, link $gbits Gbit/s, 50 µs a message"
    taskset -c 0 "$peregrine" "${bench[@]}" --eplb-config "$(config "$p")" --simulated-ranks "$p" --link-gbits "$gbits" --link-latency-us 50
done
