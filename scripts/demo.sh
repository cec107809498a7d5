#!/usr/bin/env bash
# The main job: builds Ember from this checkout, lists its plugins, then
# runs two emberd instances in WireGuard static-peer mode in two network
# namespaces joined by a veth pair, pings through the tunnel both ways,
# moves 3 s of iperf3 through it and prints each side's status. Removes
# everything it created on exit. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [[ -f build/build.ninja ]]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build >/dev/null
emberd=build/bin/emberd/emberd
$emberd --version
$emberd --list-plugins

id=$$
na=demo-a-$id; nb=demo-b-$id
tmp=$(mktemp -d)
export EMBER_RUN_DIR=$tmp/run
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$na" 2>/dev/null || true
  ip netns del "$nb" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$na"; ip netns add "$nb"
ip link add va$id netns "$na" type veth peer name vb$id netns "$nb"
ip -n "$na" addr add 10.90.0.1/24 dev va$id; ip -n "$na" link set va$id up; ip -n "$na" link set lo up
ip -n "$nb" addr add 10.90.0.2/24 dev vb$id; ip -n "$nb" link set vb$id up; ip -n "$nb" link set lo up

ka=$(wg genkey); pa=$(wg pubkey <<<"$ka")
kb=$(wg genkey); pb=$(wg pubkey <<<"$kb")
conf() { # key port addr peer-pub peer-allowed peer-endpoint
  printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s\nPersistentKeepalive = 25\n' "$@"
}
conf "$ka" 51820 10.91.0.1 "$pb" 10.91.0.2 10.90.0.2:51820 >"$tmp/a.conf"
conf "$kb" 51820 10.91.0.2 "$pa" 10.91.0.1 10.90.0.1:51820 >"$tmp/b.conf"

ip netns exec "$na" "$emberd" --wg-config "$tmp/a.conf" --interface embera &
pids+=("$!")
ip netns exec "$nb" "$emberd" --wg-config "$tmp/b.conf" --interface emberb &
pids+=("$!")
for _ in $(seq 50); do
  ip -n "$na" link show embera >/dev/null 2>&1 && ip -n "$nb" link show emberb >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== waiting for the WireGuard handshake"
for _ in $(seq 100); do
  $emberd --status --interface embera 2>/dev/null | grep -q '"session":true' && break
  sleep 0.1
done
echo "== ping through the tunnel, both ways"
ip netns exec "$na" ping -c 3 -i 0.2 10.91.0.2
ip netns exec "$nb" ping -c 3 -i 0.2 10.91.0.1
echo "== iperf3 through the tunnel (3 s)"
ip netns exec "$nb" timeout 20 iperf3 -s -1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec "$na" iperf3 -c 10.91.0.2 -t 3 | tail -4
echo "== status"
$emberd --status --interface embera
$emberd --status --interface emberb
