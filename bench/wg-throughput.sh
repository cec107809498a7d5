#!/usr/bin/env bash
# WireGuard throughput, side by side in one run: iperf3 TCP (single
# stream and -P 2) through (a) the bare veth link, (b) wireguard-go on
# both ends, (c) emberd's static-peer mode on both ends. Prints all three
# with TCP retransmits (drops in a tunnel show up there first) and the
# ratios ember/wireguard-go and ember/veth.
# Usage (root): bench/wg-throughput.sh [BUILD_DIR]   (default: build)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${BENCH_SECONDS:-10}
emberd=$build/bin/emberd/emberd
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
[[ -x $emberd ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }

id=$$
na=bwa$id; nb=bwb$id
tmp=$(mktemp -d)
export EMBER_RUN_DIR=$tmp/run
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  ip netns del "$na" 2>/dev/null; ip netns del "$nb" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$na"; ip netns add "$nb"
ip link add va$id netns "$na" type veth peer name vb$id netns "$nb"
ip -n "$na" addr add 10.98.0.1/24 dev va$id; ip -n "$na" link set va$id up; ip -n "$na" link set lo up
ip -n "$nb" addr add 10.98.0.2/24 dev vb$id; ip -n "$nb" link set vb$id up; ip -n "$nb" link set lo up

ka=$(wg genkey); pa=$(wg pubkey <<<"$ka")
kb=$(wg genkey); pb=$(wg pubkey <<<"$kb")

measure() { # $1 server address, $2 parallel streams -> Mbit/s on stdout; retransmits to $tmp/retr
  ip netns exec "$nb" timeout $((secs + 20)) iperf3 -s -1 >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  ip netns exec "$na" timeout $((secs + 15)) iperf3 -c "$1" -t "$secs" -P "$2" -J >"$tmp/r.json" 2>/dev/null
  wait "$spid" 2>/dev/null
  python3 -c 'import json,sys
try:
    e = json.load(open(sys.argv[1]))["end"]
    print("%.0f" % (e["sum_received"]["bits_per_second"] / 1e6))
    open(sys.argv[2], "a").write("%d " % e["sum_sent"].get("retransmits", 0))
except Exception:
    print(0)
    open(sys.argv[2], "a").write("? ")' "$tmp/r.json" "$tmp/retr"
}

wggo_up() { # $1 ns, $2 ifname, $3 key, $4 peer pub, $5 port, $6 peer endpoint, $7 tunnel addr, $8 peer tunnel addr
  ip netns exec "$1" wireguard-go "$2" >/dev/null 2>&1
  printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s\n' \
    "$3" "$5" "$4" "$8" "$6" >"$tmp/$2.conf"
  ip netns exec "$1" wg setconf "$2" "$tmp/$2.conf"
  ip -n "$1" addr add "$7/24" dev "$2"
  ip -n "$1" link set "$2" mtu 1420 up
}

ember_up() { # $1 ns, $2 ifname, $3 key, $4 peer pub, $5 port, $6 peer endpoint, $7 tunnel addr, $8 peer tunnel addr
  printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\nMTU = 1420\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s\nPersistentKeepalive = 25\n' \
    "$3" "$5" "$7" "$4" "$8" "$6" >"$tmp/$2.conf"
  ip netns exec "$1" "$emberd" --wg-config "$tmp/$2.conf" --interface "$2" --log warn >"$tmp/$2.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do ip -n "$1" link show "$2" >/dev/null 2>&1 && break; sleep 0.1; done
}

declare -A r
echo "# veth"
r[veth1]=$(measure 10.98.0.2 1); r[veth2]=$(measure 10.98.0.2 2)

echo "# wireguard-go"
wggo_up "$na" gwa$id "$ka" "$pb" 51830 10.98.0.2:51831 10.97.0.1 10.97.0.2
wggo_up "$nb" gwb$id "$kb" "$pa" 51831 10.98.0.1:51830 10.97.0.2 10.97.0.1
ip netns exec "$na" ping -c 2 -W 2 10.97.0.2 >/dev/null
r[wggo1]=$(measure 10.97.0.2 1); r[wggo2]=$(measure 10.97.0.2 2)
ip -n "$na" link del gwa$id; ip -n "$nb" link del gwb$id

echo "# emberd"
ember_up "$na" ewa$id "$ka" "$pb" 51840 10.98.0.2:51841 10.96.0.1 10.96.0.2
ember_up "$nb" ewb$id "$kb" "$pa" 51841 10.98.0.1:51840 10.96.0.2 10.96.0.1
ip netns exec "$na" ping -c 2 -W 2 10.96.0.2 >/dev/null
r[ember1]=$(measure 10.96.0.2 1); r[ember2]=$(measure 10.96.0.2 2)

ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (a/b) if b else "n/a")' "$1" "$2"; }
read -r -a retr <"$tmp/retr"
printf '%-12s %12s %12s   %s\n' "path" "1 stream" "-P 2" "retransmits (1 / -P 2)"
printf '%-12s %9s Mb %9s Mb   %s / %s\n' veth "${r[veth1]}" "${r[veth2]}" "${retr[0]:-?}" "${retr[1]:-?}"
printf '%-12s %9s Mb %9s Mb   %s / %s\n' wireguard-go "${r[wggo1]}" "${r[wggo2]}" "${retr[2]:-?}" "${retr[3]:-?}"
printf '%-12s %9s Mb %9s Mb   %s / %s\n' emberd "${r[ember1]}" "${r[ember2]}" "${retr[4]:-?}" "${retr[5]:-?}"
echo "ember/wireguard-go: $(ratio "${r[ember1]}" "${r[wggo1]}") (1 stream), $(ratio "${r[ember2]}" "${r[wggo2]}") (-P 2)"
echo "ember/veth:         $(ratio "${r[ember1]}" "${r[veth1]}") (1 stream), $(ratio "${r[ember2]}" "${r[veth2]}") (-P 2)"
