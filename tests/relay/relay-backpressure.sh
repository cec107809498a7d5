#!/usr/bin/env bash
# Interop: ember-relay holds what a socket cannot take and loses nothing
# (seed 003). The relay and turnutils_uclient share one network
# namespace; turnutils_peer sits in another behind a veth pair whose
# relay side is shaped with tbf to 10 Mbit/s, and the allocation
# sockets get a tiny send buffer (--allocation-send-buffer), so relaying to
# the peer runs into EAGAIN again and again. Every message must come back
# to uclient, in channel mode and in Send mode, and the relay's metrics
# must show datagrams held. Everything created is removed on exit, also
# on failure. Needs root.
set -uo pipefail
relay=$1

if [[ $(id -u) -ne 0 ]]; then echo "1..0 # SKIP needs root"; exit 77; fi
for t in turnutils_uclient turnutils_peer tc python3 timeout; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 77; }
done

id=$$
na=embr$id; nb=embp$id
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$na" 2>/dev/null
  ip netns del "$nb" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

ip netns add "$na" && ip netns add "$nb" || exit 1
ip link add ra$id netns "$na" type veth peer name pb$id netns "$nb"
ip -n "$na" addr add 10.98.0.1/24 dev ra$id; ip -n "$na" link set ra$id up; ip -n "$na" link set lo up
ip -n "$nb" addr add 10.98.0.2/24 dev pb$id; ip -n "$nb" link set pb$id up; ip -n "$nb" link set lo up
# 10 Mbit/s towards the peer, with a queue long enough that tbf itself
# never drops: what waits in it counts against the sender's buffer.
if ! ip netns exec "$na" tc qdisc add dev ra$id root tbf rate 10mbit burst 4kb latency 5s 2>"$tmp/tc"; then
  echo "1..0 # SKIP tbf qdisc unavailable: $(cat "$tmp/tc")"; exit 77
fi

ip netns exec "$nb" timeout 120 turnutils_peer -L 10.98.0.2 -p 3480 >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$na" "$relay" --listen 127.0.0.1:3478 --public-ip4 10.98.0.1 --port-range 52000-52099 \
  --realm ember.test --user alice:wonderland --allow-peer 10.98.0.0/24 --rfc5766-channels \
  --allocation-send-buffer 4096 --metrics-listen 127.0.0.1:9478 >"$tmp/relay.log" 2>&1 &
pids+=($!)
bound() { ip netns exec "$1" ss -Hlun "sport = :$2" | grep -q .; }
for _ in $(seq 100); do bound "$na" 3478 && bound "$nb" 3480 && bound "$na" 9478 && break; sleep 0.05; done

metric() { # $1: name; prints the value (0 when the scrape fails)
  ip netns exec "$na" python3 - "$1" <<'PY'
import sys, urllib.request
try:
    text = urllib.request.urlopen("http://127.0.0.1:9478/metrics", timeout=5).read().decode()
except OSError:
    text = ""
for line in text.splitlines():
    if line.startswith(sys.argv[1] + " "):
        print(int(float(line.split()[1]))); break
else:
    print(0)
PY
}

# 2 sessions x 60 messages of 1000 bytes, flat out: the 10 Mbit/s link
# needs about 100 ms for them, so the 4 KiB socket buffer blocks after a
# few datagrams and the relay holds the rest; the last reply is about
# 100 ms late (uclient counts one later than about 300 ms as lost). 60
# replies fit in one uclient session's default receive buffer, which the
# test cannot size, even when they arrive back to back.
run() { # $1: name, $2: extra uclient flags
  local out sent recv lost
  out=$(ip netns exec "$na" timeout 60 turnutils_uclient $2 -u alice -w wonderland -e 10.98.0.2 -r 3480 \
          -p 3478 -m 2 -n 60 -l 1000 -z 0 127.0.0.1 2>&1)
  sent=$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  recv=$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  lost=$(grep -o 'Total lost packets [0-9]*' <<<"$out" | tail -1 | awk '{print $4}')
  if [[ ${sent:-0} -eq 120 && ${recv:-0} -eq 120 && ${lost:-1} -eq 0 ]]; then
    ok "$1: 120 of 120 messages back, none lost"
  else
    notok "$1: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}"
    grep -v msz <<<"$out" | tail -15 | sed 's/^/# /'
    for ns in "$na" "$nb"; do
      echo "# $ns: $(ip netns exec "$ns" grep ^Udp: /proc/net/snmp | tail -1)"
    done
    ip netns exec "$na" awk 'NR > 1 && $NF > 0 { split($2, a, ":"); printf "# udp port %d dropped %d\n", strtonum("0x" a[2]), $NF }' /proc/net/udp
    echo "# relay drops: $(metric ember_relay_drops_total), to peer $(metric ember_relay_packets_to_peer_total), to client $(metric ember_relay_packets_to_client_total)"
  fi
}

before=$(metric ember_relay_send_buffered_total)
run "channel mode" "-c"
run "send mode" "-c -s"
sleep 0.3 # the data plane publishes its counters every 100 ms
held=$(metric ember_relay_send_buffered_total)
errors=$(metric ember_relay_send_errors_total)
echo "# datagrams held while a socket was full: $((held - before)); send errors: $errors"
if [[ $((held - before)) -gt 0 ]]; then ok "the relay held datagrams instead of dropping them"
else notok "no datagram was ever held: the test did not reach backpressure"; fi
[[ $errors -eq 0 ]] && ok "no send errors" || notok "$errors send errors"
if ! kill -0 "${pids[1]}" 2>/dev/null; then
  notok "ember-relay died"; sed 's/^/# relay: /' "$tmp/relay.log" | tail -20
fi

echo "1..$n"
exit $fail
