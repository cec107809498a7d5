#!/usr/bin/env bash
# The main job: builds Ember from this checkout, then runs the whole
# system in network namespaces (scripts/lib/topology.sh): ember-portal
# and two ember-relay in a public network, an emberd client and an emberd
# gateway each behind a NAT router, and a LAN behind the gateway with an
# HTTP and an iperf3 server, and name servers (dnsmasq) on the LAN and in
# the public network. Fetches the page through the tunnel, by address and
# by name (app.corp.example: Ember's stub on the client answers with a
# proxy address, the gateway resolves the real one and translates), pings,
# moves 3 s of iperf3 and prints the path (direct or relayed), the
# set-up time of the first request and the throughput. With --relayed
# the public network drops UDP between the two NAT routers, so one of
# the relays must carry the tunnel. Removes everything it made on exit,
# also on failure or Ctrl-C. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
relayed=
case ${1:-} in
  --relayed) relayed=--relayed ;;
  '') ;;
  *) echo "usage: scripts/demo.sh [--relayed]" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
scripts/deps.sh demo

# Its own build directory without the tests: a fresh machine builds only
# the programs and plugins.
build="build-demo"
if [[ -f $build/build.ninja ]]; then meson setup --reconfigure $build >/dev/null; else
  meson setup $build -Dtests=false >/dev/null; fi
echo "== build"
ninja -C $build >/dev/null
$build/bin/emberd/emberd --version

# shellcheck source=lib/topology.sh
. scripts/lib/topology.sh
TOPO_PREFIX=demo- TOPO_BUILD=$build
TOPO_DIR=$(mktemp -d)
trap topo_down EXIT
trap 'exit 130' INT TERM

echo "== topology${relayed:+ (direct UDP between the NAT routers blocked)}"
topo_up $relayed --dns
echo "   portal $TOPO_PORTAL:$TOPO_PORTAL_PORT, relays $TOPO_RELAY_r1 and $TOPO_RELAY_r2;" \
  "client behind $TOPO_NATC_WAN, gateway behind $TOPO_NATG_WAN, resources 10.20.0.0/24" \
  "and *.corp.example"

echo "== gateway and client sign in"
topo_emberd_start gateway
topo_wait_joined gateway 30
topo_emberd_start client
topo_wait_joined client 30

fail() {
  echo "demo: $*; the last lines of each log:" >&2
  for f in emberd-client emberd-gateway portal relay-r1 relay-r2; do
    echo "--- $f" >&2
    tail -n 15 "$TOPO_DIR/$f.log" >&2 2>/dev/null || true
  done
  exit 1
}

echo "== the first request through the tunnel: GET http://$TOPO_LAN_HOST/"
# time_connect is from the SYN, the first packet of the request, to the
# SYN-ACK: the authorization, ICE, the WireGuard handshake and one round
# trip.
times=$(topo_exec client curl -sS -m 30 -o "$TOPO_DIR/page" -w '%{time_connect} %{time_total}' \
  "http://$TOPO_LAN_HOST/") || fail "the page did not come"
cat "$TOPO_DIR/page"
read -r connect total <<<"$times"

echo "== by name: GET http://app.corp.example/"
# The client namespace's resolver is emberd's stub now ([dns] system=file).
echo "   $(topo_exec client getent ahostsv4 app.corp.example | awk 'NR == 1 { print "app.corp.example is " $1 " (a proxy address)" }')"
topo_exec client curl -sS -m 30 http://app.corp.example/ || fail "the page did not come by name"

echo "== ping through the tunnel"
topo_exec client ping -c 3 -i 0.2 -W 2 "$TOPO_LAN_HOST" || fail "ping failed"

echo "== iperf3 through the tunnel (3 s)"
topo_exec client timeout 20 iperf3 -c "$TOPO_LAN_HOST" -t 3 -J >"$TOPO_DIR/iperf3.json" ||
  fail "iperf3 failed"
mbits=$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$TOPO_DIR/iperf3.json")

echo "== status"
topo_status client | jq -c '{portal: .portal.state, interface, connections: [.connections[] | {state, path, relay, handshake_age_s}]}'
topo_status gateway | jq -c '{portal: .portal.state, connections: [.connections[] | {state, path, relay}]}'
path=$(topo_status client | jq -r '.connections[0].path')
relay=$(topo_status client | jq -r '.connections[0].relay // empty')

echo
echo "path:        $path${relay:+ (relay $relay)}"
printf 'set-up time: %.0f ms (first request: SYN to SYN-ACK; the whole page in %.0f ms)\n' \
  "$(jq -n "$connect * 1000")" "$(jq -n "$total * 1000")"
echo "throughput:  $mbits Mbit/s (iperf3 TCP, client -> LAN, 3 s)"
