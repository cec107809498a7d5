#!/usr/bin/env bash
# The product end to end, side by side in one run, on the topology of
# scripts/lib/topology.sh (portal and two relays in a public network,
# client and gateway behind two NAT routers, iperf3 on the LAN):
#   - set-up time: from the first packet of the first request to its
#     first reply (curl's time_connect: SYN to SYN-ACK, with the
#     authorization, ICE and the WireGuard handshake in between), after a
#     fresh start of the client, direct and relayed (UDP between the NAT
#     routers dropped); median of BENCH_ROUNDS starts;
#   - iperf3 TCP client -> LAN resource, direct and relayed;
#   - the reference: the same namespaces with two `emberd --wg-config`
#     static peers (no portal, no ICE; the gateway's router forwards
#     udp/51820 to it, as for a self-hosted WireGuard server), same MTU.
# Prints each figure and its ratio against the goals of issue 13:
# set-up < 100 ms direct and < 200 ms relayed, direct >= 0.9x static
# peer, relayed >= 0.5x direct.
# Usage (root): bench/e2e.sh [BUILD_DIR]   (default: build)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
[[ -x $build/bin/emberd/emberd ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }

# shellcheck source=../scripts/lib/topology.sh
. scripts/lib/topology.sh
TOPO_PREFIX=e2eb- TOPO_BUILD=$build
TOPO_DIR=$(mktemp -d)
trap topo_down EXIT
trap 'exit 130' INT TERM
topo_up || exit 1
emberd=$(cd "$build" && pwd)/bin/emberd/emberd

die() {
  echo "bench: $*; the last lines of the logs:" >&2
  for f in emberd-client emberd-gateway; do echo "--- $f" >&2; tail -n 20 "$TOPO_DIR/$f.log" >&2; done
  exit 1
}

start_gateway() { topo_emberd_start gateway --log warn && topo_wait_joined gateway 30 || die "gateway did not join"; }
start_client() { topo_emberd_start client --log warn && topo_wait_joined client 30 || die "client did not join"; }
restart_client() { topo_emberd_stop client >/dev/null; start_client; }

# The first request after a fresh client start, in ms.
first_request_ms() {
  local t
  t=$(topo_exec client curl -sS -m 30 -o /dev/null -w '%{time_connect}' "http://$TOPO_LAN_HOST/") || return 1
  jq -n "$t * 1000 | . * 10 | round / 10"
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

setup_rounds() { # -> "median (all)", or "failed" when a first request got no answer
  local all=() ms
  for _ in $(seq "$rounds"); do
    restart_client
    ms=$(first_request_ms) || { echo "failed"; return 1; }
    all+=("$ms")
  done
  echo "$(median "${all[@]}") (${all[*]})"
}

iperf_mbits() {
  topo_exec client timeout $((secs + 20)) iperf3 -c "$TOPO_LAN_HOST" -t "$secs" -J >"$TOPO_DIR/iperf3.json" 2>/dev/null
  jq '.end.sum_received.bits_per_second / 1e6 | round' "$TOPO_DIR/iperf3.json" 2>/dev/null || echo 0
}

# The path of the client's connection once one is selected (the status
# file is rewritten once a second).
path_of() {
  local p=''
  for _ in $(seq 30); do
    p=$(topo_status client | jq -r '.connections[0].path // ""')
    [[ -n $p ]] && break
    sleep 0.2
  done
  echo "${p:-none}"
}

declare -A r
echo "# direct"
start_gateway
r[setup_direct]=$(setup_rounds) || die "the first request failed"
r[path_direct]=$(path_of)
r[mtu]=$(topo_exec client cat "/sys/class/net/${TOPO_PREFIX}tun/mtu")
r[tcp_direct]=$(iperf_mbits)

echo "# relayed"
topo_block_direct on
topo_emberd_stop gateway >/dev/null
start_gateway
r[tcp_relayed]=0
if r[setup_relayed]=$(setup_rounds); then
  r[path_relayed]=$(path_of)
  r[tcp_relayed]=$(iperf_mbits)
else
  r[path_relayed]=none
  echo "bench: no answer through the relays; the client's log:" >&2
  tail -n 20 "$TOPO_DIR/emberd-client.log" >&2
fi
topo_emberd_stop client >/dev/null
topo_emberd_stop gateway >/dev/null
topo_block_direct off

echo "# static peers (emberd --wg-config)"
kc=$(wg genkey); pc=$(wg pubkey <<<"$kc")
kg=$(wg genkey); pg=$(wg pubkey <<<"$kg")
topo_exec natg nft -f - <<EOF
table ip $(topo_table fwd) {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "${TOPO_PREFIX}gw" udp dport 51820 dnat to 10.2.0.2:51820
  }
}
EOF
topo_exec gateway sysctl -qw net.ipv4.ip_forward=1
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.99.0.1/24\nMTU = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.2/32\n' \
  "$kg" "${r[mtu]}" "$pc" >"$TOPO_DIR/static-gateway.conf"
printf '[Interface]\nPrivateKey = %s\nAddress = 10.99.0.2/24\nMTU = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.20.0.0/24\nEndpoint = %s:51820\nPersistentKeepalive = 25\n' \
  "$kc" "${r[mtu]}" "$pg" "$TOPO_NATG_WAN" >"$TOPO_DIR/static-client.conf"
export EMBER_RUN_DIR=$TOPO_DIR/run
topo_spawn static-gateway gateway "$emberd" --wg-config "$TOPO_DIR/static-gateway.conf" --interface "${TOPO_PREFIX}sg" --log warn
# The client's first handshake (its keepalive, at start) must find the
# gateway listening: one that arrives first is refused, and WireGuard
# retries only after 5 s, which the reference's set-up time then shows.
static_gateway_listening() { topo_exec gateway ss -Hlun 'sport = :51820' | grep -q .; }
topo_wait 10 static_gateway_listening || die "the static gateway does not listen on 51820"
topo_spawn static-client client "$emberd" --wg-config "$TOPO_DIR/static-client.conf" --interface "${TOPO_PREFIX}sc" --log warn
topo_wait 10 topo_exec client ip link show "${TOPO_PREFIX}sc" || die "static-peer interface missing"
r[setup_static]=$(first_request_ms) || die "no page through the static peers"
r[tcp_static]=$(iperf_mbits)

ratio() { jq -n "if $2 > 0 then $1 / $2 * 100 | round / 100 else \"n/a\" end"; }
goal() { jq -rn "if $1 $2 $3 then \"met\" else \"MISSED\" end"; }
sd=${r[setup_direct]%% *}; sr=${r[setup_relayed]%% *}
[[ $sr == failed ]] && sr=1e9
echo
printf '%-34s %s\n' "set-up, direct (path ${r[path_direct]})" "${r[setup_direct]} ms   goal < 100 ms: $(goal "$sd" '<' 100)"
printf '%-34s %s\n' "set-up, relayed (path ${r[path_relayed]})" "${r[setup_relayed]} ms   goal < 200 ms: $(goal "$sr" '<' 200)"
printf '%-34s %s\n' "set-up, static peers" "${r[setup_static]} ms (one round trip: the keepalive made the session at start)"
printf '%-34s %s\n' "TCP client -> LAN, static peers" "${r[tcp_static]} Mbit/s (MTU ${r[mtu]})"
printf '%-34s %s\n' "TCP client -> LAN, direct" "${r[tcp_direct]} Mbit/s"
printf '%-34s %s\n' "TCP client -> LAN, relayed" "${r[tcp_relayed]} Mbit/s"
printf '%-34s %s\n' "direct / static peers" "$(ratio "${r[tcp_direct]}" "${r[tcp_static]}")   goal >= 0.9: $(goal "${r[tcp_direct]}" '>=' "0.9 * ${r[tcp_static]}")"
printf '%-34s %s\n' "relayed / direct" "$(ratio "${r[tcp_relayed]}" "${r[tcp_direct]}")   goal >= 0.5: $(goal "${r[tcp_relayed]}" '>=' "0.5 * ${r[tcp_direct]}")"
