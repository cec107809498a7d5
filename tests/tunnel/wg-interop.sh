#!/usr/bin/env bash
# Interop: emberd's static-peer mode in one network namespace, Debian's
# wireguard-go + wg in another, joined by a veth pair. Pings both ways,
# 5 s of iperf3 each way, the same with a PresharedKey, a fresh handshake
# after emberd restarts, and the same traffic while emberd rekeys every
# 5 s (EMBER_WG_TEST_REKEY_AFTER_S, a test-only knob of the static-peer
# shell). emberd must exit 0 on SIGTERM (under ASan: no leak, no error)
# and remove its interface. Everything created is removed on exit, also
# on failure. Needs root.
set -uo pipefail
emberd=$1
secs=${EMBER_IPERF_SECONDS:-5}

if [[ $(id -u) -ne 0 ]]; then echo "1..0 # SKIP needs root"; exit 77; fi
for t in wireguard-go wg iperf3 ping; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 77; }
done

id=$$
na=emba$id; nb=embb$id
ifa=ea$id; ifb=wb$id
tmp=$(mktemp -d)
export EMBER_RUN_DIR=$tmp/run EMBER_STATE_DIR=$tmp/state
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$na" 2>/dev/null
  ip netns del "$nb" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
# On success only the step's "# ..." lines (rates, counts) are shown.
check() { local what=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$what"; grep '^# ' "$tmp/out"; else notok "$what"; sed 's/^/# /' "$tmp/out"; fi; }

ip netns add "$na" && ip netns add "$nb" || exit 1
ip link add va$id netns "$na" type veth peer name vb$id netns "$nb"
ip -n "$na" addr add 10.99.0.1/24 dev va$id; ip -n "$na" link set va$id up; ip -n "$na" link set lo up
ip -n "$nb" addr add 10.99.0.2/24 dev vb$id; ip -n "$nb" link set vb$id up; ip -n "$nb" link set lo up

ka=$(wg genkey); pa=$(wg pubkey <<<"$ka")
kb=$(wg genkey); pb=$(wg pubkey <<<"$kb")

start_ember() { # $1: extra peer line; env EMBER_WG_TEST_REKEY_AFTER_S passes through
  cat >"$tmp/a.conf" <<CONF
[Interface]
PrivateKey = $ka
ListenPort = 51820
Address = 10.100.0.1/24, fd10::1/64

[Peer]
PublicKey = $pb
AllowedIPs = 10.100.0.2/32, fd10::2/128
Endpoint = 10.99.0.2:51821
$1
CONF
  ip netns exec "$na" "$emberd" --wg-config "$tmp/a.conf" --interface "$ifa" --log info \
    >"$tmp/emberd.log" 2>&1 &
  ember_pid=$!
  pids+=("$ember_pid")
  for _ in $(seq 50); do ip -n "$na" link show "$ifa" >/dev/null 2>&1 && return 0; sleep 0.1; done
  sed 's/^/# emberd: /' "$tmp/emberd.log"; return 1
}
stop_ember() { # returns emberd's exit status (0 expected after SIGTERM)
  kill "$ember_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$ember_pid" 2>/dev/null || break; sleep 0.1; done
  local rc=0
  wait "$ember_pid" 2>/dev/null || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "emberd exited with $rc"; sed 's/^/# emberd: /' "$tmp/emberd.log" | tail -30
  fi
  return $rc
}
rekeyed_twice() { # the first handshake and two rekeys
  # A handshake message lost on the loaded link is retried after
  # REKEY_TIMEOUT (5 s), which can push the second rekey past the end of
  # the round: keep pinging (a rekey is due on sending) for up to 12 s more.
  local n end=$((SECONDS + 12))
  while n=$(grep -c 'handshake complete' "$tmp/emberd.log"); [[ $n -lt 3 && $SECONDS -lt $end ]]; do
    ip netns exec "$na" ping -c 1 -W 1 -q 10.100.0.2 >/dev/null 2>&1
    sleep 0.5
  done
  echo "# $n handshakes"; [[ $n -ge 3 ]]
}

start_wggo() { # $1: extra peer line
  cat >"$tmp/b.conf" <<CONF
[Interface]
PrivateKey = $kb
ListenPort = 51821

[Peer]
PublicKey = $pa
AllowedIPs = 10.100.0.1/32, fd10::1/128
Endpoint = 10.99.0.1:51820
$1
CONF
  # A distinct interface name keeps its control socket in /run/wireguard apart.
  ip netns exec "$nb" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ifb" >"$tmp/wggo.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do [[ -S /run/wireguard/$ifb.sock ]] && break; sleep 0.1; done
  ip netns exec "$nb" wg setconf "$ifb" "$tmp/b.conf" &&
  ip -n "$nb" addr add 10.100.0.2/24 dev "$ifb" &&
  ip -n "$nb" addr add fd10::2/64 dev "$ifb" nodad &&
  ip -n "$nb" link set "$ifb" mtu 1420 up
}
stop_wggo() { ip -n "$nb" link del "$ifb" 2>/dev/null; rm -f "/run/wireguard/$ifb.sock"; }

ping_both() {
  ip netns exec "$na" ping -c 3 -i 0.2 -W 2 10.100.0.2 && ip netns exec "$nb" ping -c 3 -i 0.2 -W 2 10.100.0.1
}
ping6_both() {
  ip netns exec "$na" ping -6 -c 3 -i 0.2 -W 2 fd10::2 && ip netns exec "$nb" ping -6 -c 3 -i 0.2 -W 2 fd10::1
}
iperf() { # $1: client ns, $2: server address, $3: extra flags
  local server_ns=$nb; [[ $1 == "$nb" ]] && server_ns=$na
  ip netns exec "$server_ns" timeout $((secs + 15)) iperf3 -s -1 >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  ip netns exec "$1" timeout $((secs + 10)) iperf3 -c "$2" -t "$secs" $3 -J >"$tmp/iperf.json"
  local rc=$?
  wait "$spid" 2>/dev/null
  [[ $rc -eq 0 ]] || return 1
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["end"]["sum_received"]; print("# %.0f Mbit/s" % (r["bits_per_second"]/1e6)); sys.exit(0 if r["bytes"]>0 else 1)' "$tmp/iperf.json"
}

run_round() { # $1: label
  check "$1: ping both ways (IPv4)" ping_both
  check "$1: ping both ways (IPv6)" ping6_both
  check "$1: iperf3 ember -> wireguard-go ${secs}s" iperf "$na" 10.100.0.2 ""
  check "$1: iperf3 wireguard-go -> ember ${secs}s" iperf "$nb" 10.100.0.1 ""
}

check "emberd comes up" start_ember ""
check "wireguard-go comes up" start_wggo ""
run_round "plain"
check "emberd --status shows a session and traffic" bash -c \
  "'$emberd' --status --interface '$ifa' | tee /dev/stderr | grep -q '\"session\":true'"

# A restart makes emberd start a new handshake with the old session still
# live on the wireguard-go side, which must accept the newer initiation.
check "emberd exits 0 on SIGTERM" stop_ember
check "emberd restarts" start_ember ""
check "after restart: ping both ways" ping_both
check "wg show reports a recent handshake" bash -c \
  "ip netns exec '$nb' wg show '$ifb' latest-handshakes | awk '{ if (\$2 > 0) ok=1 } END { exit !ok }'"

check "emberd exits 0 on SIGTERM (restart)" stop_ember
stop_wggo
psk=$(wg genpsk)
check "emberd comes up with a PresharedKey" start_ember "PresharedKey = $psk"
check "wireguard-go comes up with a PresharedKey" start_wggo "PresharedKey = $psk"
run_round "psk"

# Rekeys under traffic: emberd initiates (it pings first) and rekeys 5 s
# after each handshake, so the ~13 s round crosses at least two rekeys
# while iperf3 runs; wireguard-go must switch keys without loss of the
# stream.
check "emberd exits 0 on SIGTERM (psk)" stop_ember
export EMBER_WG_TEST_REKEY_AFTER_S=5
check "emberd comes up rekeying every 5 s" start_ember "PresharedKey = $psk"
unset EMBER_WG_TEST_REKEY_AFTER_S
run_round "rekey"
check "emberd rekeyed at least twice during the round" rekeyed_twice
check "emberd exits 0 on SIGTERM (rekey)" stop_ember
if [[ -e /sys/class/net/$ifa ]] || ip -n "$na" link show "$ifa" >/dev/null 2>&1; then
  notok "emberd removes its interface on SIGTERM"
else
  ok "emberd removes its interface on SIGTERM"
fi
[[ $fail -ne 0 ]] && sed 's/^/# emberd: /' "$tmp/emberd.log" | tail -40
echo "1..$n"
exit $fail
