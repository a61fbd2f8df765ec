#!/usr/bin/env bash
# Two "hosts" on one machine for disaggregation figures: network namespaces pgp (prefill,
# 10.77.0.1) and pgd (decode, 10.77.0.2) joined by a veth pair whose both ends are shaped with
# tc netem (rate and one-way delay), or, on a kernel without netem, with a token bucket (tbf:
# the rate only). Needs root.
#
#   Scripts/pd_netns.sh up 1gbit 0.1ms     # create (or reshape) the link
#   ip netns exec pgp CMD …                # run on the prefill host
#   Scripts/pd_netns.sh down
set -euo pipefail
case "${1:-}" in
up)
    rate=${2:-1gbit} delay=${3:-0.1ms}
    if ! ip netns list | grep -q '^pgp'; then
        ip netns add pgp
        ip netns add pgd
        ip link add vpgp type veth peer name vpgd
        ip link set vpgp netns pgp
        ip link set vpgd netns pgd
        ip -n pgp addr add 10.77.0.1/24 dev vpgp
        ip -n pgd addr add 10.77.0.2/24 dev vpgd
        for ns in pgp pgd; do ip -n $ns link set lo up; done
        ip -n pgp link set vpgp up
        ip -n pgd link set vpgd up
    fi
    for pair in pgp:vpgp pgd:vpgd; do
        ns=${pair%%:*} dev=${pair##*:}
        if ! ip netns exec "$ns" tc qdisc replace dev "$dev" root netem rate "$rate" delay "$delay" limit 100000 2>/dev/null; then
            # A bucket of at least one timer tick of traffic at the rate (10 Gbit/s: about 5 MB at 250 Hz).
            ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst 8mb latency 100ms
            echo "netem is not in this kernel: $dev shaped to $rate by tbf, with no added delay" >&2
        fi
    done
    ;;
down)
    ip netns del pgp 2>/dev/null || true
    ip netns del pgd 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up RATE DELAY | down" >&2
    exit 2
    ;;
esac
