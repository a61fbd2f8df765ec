#!/usr/bin/env bash
# Hosts for expert-parallel figures on one machine: a front namespace epf (10.78.0.1) and P
# worker namespaces epw0… (10.78.0.10+r), each joined by a veth pair to a bridge in the root
# namespace, both ends shaped with tc netem (rate and one-way delay) or, on a kernel without
# netem, with a token bucket (tbf: the rate only). Needs root.
#
#   Scripts/ep_netns.sh up 4 1gbit 0.1ms      # create (or reshape) the front and 4 worker hosts
#   ip netns exec epw0 taskset -c 1 peregrine expert-worker --listen 10.78.0.10:9400 …
#   ip netns exec epf taskset -c 0 peregrine bench expert-parallel --expert-workers 10.78.0.10:9400,… …
#   Scripts/ep_netns.sh down
set -euo pipefail
shape() {  # namespace (or "" for the root one), device, rate, delay
    local run=(); [[ -n "$1" ]] && run=(ip netns exec "$1")
    if ! "${run[@]}" tc qdisc replace dev "$2" root netem rate "$3" delay "$4" limit 100000 2>/dev/null; then
        "${run[@]}" tc qdisc replace dev "$2" root tbf rate "$3" burst 8mb latency 100ms
        netem_missing=1
    fi
}
host() {  # namespace, address, rate, delay
    local ns=$1 dev=v$1
    if ! ip netns list | grep -qE "^$ns( |$)"; then
        ip netns add "$ns"
        ip link add "$dev" type veth peer name "b$ns"
        ip link set "$dev" netns "$ns"
        ip -n "$ns" addr add "$2/24" dev "$dev"
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$dev" up
    fi
    ip link set "b$ns" master epbr up
    shape "$ns" "$dev" "$3" "$4"
    shape "" "b$ns" "$3" "$4"
}
netem_missing=0
case "${1:-}" in
up)
    workers=${2:-2} rate=${3:-1gbit} delay=${4:-0.1ms}
    ip link show epbr >/dev/null 2>&1 || { ip link add epbr type bridge; ip link set epbr up; }
    host epf 10.78.0.1 "$rate" "$delay"
    for ((r = 0; r < workers; r++)); do host "epw$r" "10.78.0.$((10 + r))" "$rate" "$delay"; done
    [[ $netem_missing == 1 ]] && echo "netem is not in this kernel: links shaped to $rate by tbf, with no added delay" >&2
    ;;
down)
    for ns in $(ip netns list | awk '$1 ~ /^ep(f|w[0-9]+)$/ {print $1}'); do ip netns del "$ns"; done
    ip link del epbr 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up WORKERS RATE DELAY | down" >&2
    exit 2
    ;;
esac
