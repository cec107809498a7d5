#!/usr/bin/env bash
# ember-relay's XDP fast path end to end (IPv4, and IPv6 in channel mode): turnutils_uclient in a client
# namespace, ember-relay with --xdp in a relay namespace, turnutils_peer
# in a peer namespace, joined by two veth pairs. In channel mode every
# message comes back and the relay's XDP counters carry the data while
# its own sockets relay next to nothing; Send mode and padded ChannelData
# (-D) still work, through user space; a channel whose binding expires
# (EMBER_RELAY_TEST_CHANNEL_LIFETIME) leaves the maps and what follows is
# not relayed.
#
# veth needs two things for XDP_REDIRECT in native mode: the receiving
# end needs NAPI (GRO on, or a program of its own), and frames must carry
# complete UDP checksums (a locally sent packet has only the pseudo-header
# sum with checksum offload on), so the client's and peer's ends get
# "gro on tx off", as a wire would give. Native mode is used when veth
# takes it, else generic. Everything created is removed on exit, also on
# failure. Needs root.
set -uo pipefail
relay=$1

if [[ $(id -u) -ne 0 ]]; then echo "1..0 # SKIP needs root"; exit 77; fi
for t in turnutils_uclient turnutils_peer ethtool python3 timeout ss; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 77; }
done

id=$$
nc=xdp-c-$id; nr=xdp-r-$id; np=xdp-p-$id
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$nc" "$nr" "$np"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

ip netns add "$nc" && ip netns add "$nr" && ip netns add "$np" || exit 1
ip link add c0 netns "$nc" type veth peer name r0 netns "$nr"
ip link add p0 netns "$np" type veth peer name r1 netns "$nr"
ip -n "$nc" addr add 10.97.1.2/24 dev c0; ip -n "$nr" addr add 10.97.1.1/24 dev r0
ip -n "$nr" addr add 10.97.2.1/24 dev r1; ip -n "$np" addr add 10.97.2.2/24 dev p0
for ns in "$nc" "$nr" "$np"; do ip -n "$ns" link set lo up; done
ip -n "$nc" link set c0 up; ip -n "$nr" link set r0 up; ip -n "$nr" link set r1 up; ip -n "$np" link set p0 up
ip netns exec "$nc" ethtool -K c0 gro on tx off >/dev/null
ip netns exec "$np" ethtool -K p0 gro on tx off >/dev/null

ip -n "$nc" addr add fd97:1::2/64 dev c0 nodad; ip -n "$nr" addr add fd97:1::1/64 dev r0 nodad
ip -n "$nr" addr add fd97:2::1/64 dev r1 nodad; ip -n "$np" addr add fd97:2::2/64 dev p0 nodad

ip netns exec "$np" timeout 120 turnutils_peer -L 10.97.2.2 -p 3480 >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$np" timeout 120 turnutils_peer -L fd97:2::2 -p 3480 >/dev/null 2>&1 &
pids+=($!)
relay_addrs=(--listen 10.97.1.1:3478 --public-ip4 10.97.2.1 --allow-peer 10.97.2.0/24)
relay_ip=10.97.1.1; peer_ip=10.97.2.2
bound() { ip netns exec "$1" ss -Hlun "sport = :$2" | grep -q .; }      # UDP
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; } # TCP

metric() { # $1: name with labels as printed; prints the value (0 when absent)
  ip netns exec "$nr" python3 - "$1" <<'PY'
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

start_relay() { # extra environment assignments as arguments
  local mode
  for mode in native generic; do
    env "$@" ip netns exec "$nr" "$relay" "${relay_addrs[@]}" \
      --port-range 52000-52099 --realm ember.test --user alice:wonderland \
      --rfc5766-channels --xdp "$mode" --xdp-interface r0 --xdp-interface r1 \
      --metrics-listen 127.0.0.1:9478 >"$tmp/relay.log" 2>&1 &
    relay_pid=$!
    pids+=($relay_pid)
    for _ in $(seq 100); do bound "$nr" 3478 && listening "$nr" 9478 && break; sleep 0.05; done
    if grep -q "XDP fast path for bound channels" "$tmp/relay.log"; then
      echo "# $(grep -o 'XDP fast path for bound channels.*' "$tmp/relay.log")"
      return 0
    fi
    kill "$relay_pid"; wait "$relay_pid" 2>/dev/null
  done
  sed 's/^/# relay: /' "$tmp/relay.log" | tail -5
  return 1
}
stop_relay() { kill "$relay_pid"; wait "$relay_pid" 2>/dev/null; }

# uclient: 2 sessions (-l may be given again); prints "sent received lost".
uclient() {
  local out
  out=$(ip netns exec "$nc" timeout "${UCLIENT_TIMEOUT:-30}" turnutils_uclient -c -l 200 "$@" -u alice -w wonderland \
          -e "$peer_ip" -r 3480 -p 3478 -m 2 "$relay_ip" 2>&1)
  echo "$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2) \
$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2) \
$(grep -o 'Total lost packets [0-9]*' <<<"$out" | tail -1 | awk '{print $4}')"
}
snapshot() { # the counters this test looks at, one line
  echo "$(metric ember_relay_xdp_packets_to_peer_total) $(metric ember_relay_xdp_packets_to_client_total)" \
       "$(metric ember_relay_packets_to_peer_total) $(metric 'ember_relay_xdp_passed_total{reason="padded"}')"
}

if ! start_relay; then
  echo "1..0 # SKIP the XDP program does not load here"; exit 77
fi
# Neighbour entries as a relay has them for its gateway; a fresh one is
# resolved through user space (the program passes "no_neighbour" up).
ip netns exec "$nr" ping -c1 -W1 10.97.1.2 >/dev/null
ip netns exec "$nr" ping -c1 -W1 10.97.2.2 >/dev/null

# Channel mode: 400 messages each way through the fast path.
sleep 0.2; read -r xp0 xc0 up0 pad0 < <(snapshot)
read -r sent recv lost < <(uclient -n 200 -z 1)
sleep 0.3; read -r xp1 xc1 up1 pad1 < <(snapshot)
if [[ ${sent:-0} -eq 400 && ${recv:-0} -eq 400 && ${lost:-1} -eq 0 ]]; then
  ok "channel mode: 400 of 400 messages back, none lost"
else notok "channel mode: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}"; fi
echo "# fast path: $((xp1 - xp0)) to peers, $((xc1 - xc0)) to clients; user space: $((up1 - up0)) to peers"
if (( xp1 - xp0 >= 396 && xc1 - xc0 >= 396 )); then ok "channel mode: the data went through XDP"
else notok "channel mode: only $((xp1 - xp0)) / $((xc1 - xc0)) through XDP"; fi
if (( up1 - up0 <= 4 )); then ok "channel mode: the relay's sockets relayed $((up1 - up0)) datagrams"
else notok "channel mode: $((up1 - up0)) datagrams relayed in user space"; fi
if [[ $(metric ember_relay_xdp_bindings) -eq 0 ]]; then ok "deleted allocations left no entries"
else notok "$(metric ember_relay_xdp_bindings) bindings left after uclient deleted its allocations"; fi

# Send mode: Send/Data indications, all in user space.
read -r xp0 xc0 up0 pad0 < <(snapshot)
read -r sent recv lost < <(uclient -s -n 100 -z 1)
sleep 0.3; read -r xp1 xc1 up1 pad1 < <(snapshot)
if [[ ${sent:-0} -eq 200 && ${recv:-0} -eq 200 && ${lost:-1} -eq 0 && $((xp1 - xp0)) -eq 0 && $((up1 - up0)) -ge 200 ]]; then
  ok "send mode: 200 of 200 back, relayed in user space"
else notok "send mode: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}, XDP $((xp1 - xp0)), user space $((up1 - up0))"; fi

# Padded ChannelData (201 bytes, padded to 204): up to user space,
# which relays it.
read -r xp0 xc0 up0 pad0 < <(snapshot)
read -r sent recv lost < <(uclient -D -n 100 -z 1 -l 201)
sleep 0.3; read -r xp1 xc1 up1 pad1 < <(snapshot)
if [[ ${sent:-0} -eq 200 && ${recv:-0} -eq 200 && ${lost:-1} -eq 0 && $((pad1 - pad0)) -ge 190 && $((up1 - up0)) -ge 190 ]]; then
  ok "padded ChannelData: 200 of 200 back, passed up and relayed in user space"
else notok "padded: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}, passed padded $((pad1 - pad0)), user space $((up1 - up0))"; fi
stop_relay

# IPv6: the same through the program's IPv6 half.
relay_addrs=(--listen "[fd97:1::1]:3478" --public-ip6 fd97:2::1 --allow-peer fd97:2::/64)
relay_ip=fd97:1::1; peer_ip=fd97:2::2
if start_relay; then
  ip netns exec "$nr" ping -c1 -W1 fd97:1::2 >/dev/null
  ip netns exec "$nr" ping -c1 -W1 fd97:2::2 >/dev/null
  read -r xp0 xc0 up0 pad0 < <(snapshot)
  read -r sent recv lost < <(uclient -n 200 -z 1)
  sleep 0.3; read -r xp1 xc1 up1 pad1 < <(snapshot)
  if [[ ${sent:-0} -eq 400 && ${recv:-0} -eq 400 && ${lost:-1} -eq 0 && $((xp1 - xp0)) -ge 396 && $((xc1 - xc0)) -ge 396 && $((up1 - up0)) -le 4 ]]; then
    ok "IPv6 channel mode: 400 of 400 back, $((xp1 - xp0)) / $((xc1 - xc0)) through XDP"
  else notok "IPv6: sent ${sent:-?} received ${recv:-?} lost ${lost:-?}, XDP $((xp1 - xp0)) / $((xc1 - xc0)), user space $((up1 - up0))"; fi
  stop_relay
else notok "IPv6 relay start"; fi
relay_addrs=(--listen 10.97.1.1:3478 --public-ip4 10.97.2.1 --allow-peer 10.97.2.0/24)
relay_ip=10.97.1.1; peer_ip=10.97.2.2

# Expiry: channels bound for 2 s while uclient keeps sending; sampled
# while bound and after the binding lapsed, the allocations still alive.
# uclient is given more messages than it can send before the timeout
# stops it at 6 s, so it is still sending well after the expiry however
# fast the machine is (with 3000 it once finished before the lapse); the
# late datagrams are counted once it has stopped.
if ! start_relay EMBER_RELAY_TEST_CHANNEL_LIFETIME=2; then notok "relay restart"; fi
UCLIENT_TIMEOUT=6 uclient -n 100000 -z 1 >"$tmp/expiry" &
upid=$!; pids+=($upid)
sleep 1
during=$(metric ember_relay_xdp_bindings)
sleep 2.5
after=$(metric ember_relay_xdp_bindings); allocs=$(metric ember_relay_allocations)
wait "$upid" || true
sleep 0.3
late=$(( $(metric 'ember_relay_xdp_passed_total{reason="unbound"}') + $(metric 'ember_relay_xdp_passed_total{reason="expired"}') ))
drops=$(metric ember_relay_drops_total)
if [[ $during -gt 0 && $after -eq 0 && $allocs -gt 0 ]]; then
  ok "expired channels left the maps ($during bound, then $after; $allocs allocations alive)"
else notok "bindings: $during while bound, $after after expiry (allocations $allocs)"; fi
if [[ $late -gt 0 && $drops -ge $late ]]; then
  ok "datagrams after expiry were not relayed ($late passed up, $drops dropped by the core)"
else notok "after expiry: $late passed up, $drops dropped"; fi
stop_relay

if grep -qE "CRITICAL|ERROR|AddressSanitizer|runtime error" "$tmp/relay.log"; then
  notok "relay log has errors"; sed 's/^/# relay: /' "$tmp/relay.log" | tail -10
fi
echo "1..$n"
exit $fail
