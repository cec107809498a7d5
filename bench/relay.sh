#!/usr/bin/env bash
# Relay throughput: the same turnutils_uclient load against coturn's
# turnserver and against ember-relay, one after the other, on loopback
# inside a network namespace this script creates (and always removes).
# Prints per server: relayed packets/s, Mbit/s, messages the load
# generator lost, datagrams the server's own sockets dropped (receive
# buffer full), server CPU per relayed packet (utime+stime from
# /proc/PID/stat) and resident memory per allocation, then the
# ember/coturn ratios. Several rounds, servers alternating, and the
# median, because one run on a shared machine is noise.
#
#   bench/relay.sh [BUILD_DIR]     default: build in the repo root
#   RELAY_BENCH_CLIENTS=10 RELAY_BENCH_MESSAGES=50000 RELAY_BENCH_LENGTH=1000
#   RELAY_BENCH_INTERVAL=0 (ms between messages per session; 0 = flat out)
#   RELAY_BENCH_ROUNDS=3
#   RELAY_BENCH_TOPOLOGY=both (loopback, veth or both)
#
# The veth topology puts the load generator's two ends in namespaces of
# their own (client, peer) and the server in a third between them, so
# the server's namespace pays for its packets as a real relay host does:
# coturn, ember-relay --xdp=off and ember-relay with its XDP fast path
# take turns under the same channel-mode load. How CPU is counted there:
# every veth end runs its receive path in a NAPI thread of its own
# (GRO on, threaded NAPI), so the kernel work of the relay's namespace
# (receiving, and the XDP program, which runs there) is charged to the
# napi/<relay interface> threads and the generator's to its own napi
# threads and processes. CPU per relayed packet = utime+stime of the
# server process (all threads, its sends included) plus its namespace's
# two napi threads, over the datagrams relayed (each echoed message
# crosses twice). The generator (uclient, turnutils_peer, their napi
# threads) is left out entirely; softirq work is inside those threads;
# other load on the machine is charged to other threads and does not
# count. The machine's /proc/stat busy time per packet is printed too,
# as a cross-check on a quiet machine (there it includes the generator).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
relay=$dir/plugins/relay/ember-relay/ember-relay
[[ -x $relay ]] || { echo "relay bench: build $relay first" >&2; exit 1; }
for t in turnserver turnutils_uclient turnutils_peer ip; do
  command -v $t >/dev/null || { echo "relay bench: $t missing" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "relay bench: needs root (network namespace)" >&2; exit 1; }

m=${RELAY_BENCH_CLIENTS:-10}
n=${RELAY_BENCH_MESSAGES:-50000}
l=${RELAY_BENCH_LENGTH:-1000}
z=${RELAY_BENCH_INTERVAL:-0}
rounds=${RELAY_BENCH_ROUNDS:-3}
ns=ember-relay-bench-$$
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
inns() { ip netns exec "$ns" "$@"; }

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Datagrams dropped by the sockets process $1 holds (the drops column of
# /proc/net/udp{,6} for its socket inodes).
sock_drops() {
  python3 - "$1" <<'PY'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
drops = 0
for f in ("udp", "udp6"):
    for line in open(f"/proc/{pid}/net/{f}").readlines()[1:]:
        col = line.split()
        if col[9] in inodes:
            drops += int(col[-1])
print(drops)
PY
}
# Receive-buffer drops of every UDP socket in the namespace.
rcvbuf_errors() { inns awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }
wait_port() { for _ in $(seq 100); do inns ss -uln | grep -q ":$1 " && return 0; sleep 0.05; done; return 1; }

topology=${RELAY_BENCH_TOPOLOGY:-both}
if [[ $topology == loopback || $topology == both ]]; then
ip netns exec "$ns" timeout 900 turnutils_peer -L 127.0.0.1 -p 3480 >/dev/null 2>&1 &
pids+=($!)
wait_port 3480

# Runs the load against the server with pid $1; prints one result line.
measure() {
  local name=$1 pid=$2 mode=$3
  sleep 0.5
  local rss0 cpu0 t0 out
  local rcvbuf0
  rcvbuf0=$(rcvbuf_errors)
  rss0=$(rss_kb "$pid"); cpu0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$(inns timeout 600 turnutils_uclient $mode -u alice -w wonderland -e 127.0.0.1 -r 3480 \
          -p 3478 -m "$m" -n "$n" -l "$l" -z "$z" -c 127.0.0.1 2>&1 | grep -v msz) || true
  local rss1 cpu1 t1 drops
  rss1=$(rss_kb "$pid"); cpu1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  drops=$(sock_drops "$pid")/$(( $(rcvbuf_errors) - rcvbuf0 ))
  local sent recv lost
  sent=$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  recv=$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  lost=$(grep -o 'Total lost packets [0-9]*' <<<"$out" | tail -1 | awk '{print $4}')
  # Each message crosses the relay twice: client->peer and back.
  python3 - "$name" "$mode" "${sent:-0}" "${recv:-0}" "${lost:-NA}" "$t0" "$t1" "$cpu0" "$cpu1" \
            "$clk" "$rss0" "$rss1" "$m" "$l" "$drops" >>"$tmp/results" <<'PY'
import sys
name, mode, sent, recv, lost, t0, t1, c0, c1, clk, r0, r1, m, l, drops = sys.argv[1:]
sent, recv, m, l = int(sent), int(recv), int(m), int(l)
relayed = sent + recv
secs = float(t1) - float(t0)
cpu_us = (int(c1) - int(c0)) / int(clk) * 1e6
allocs = 2 * m  # uclient opens an allocation per session end
print(f"{name}\t{mode or '-c'}\t{relayed/secs:.0f}\t{relayed*l*8/secs/1e6:.1f}\t{lost}\t"
      f"{cpu_us/relayed if relayed else float('nan'):.3f}\t{max(0,int(r1)-int(r0))/allocs:.1f}\t{drops}")
PY
}

run_coturn() {
  local mode=$1
  ip netns exec "$ns" turnserver -n --listening-ip=127.0.0.1 --listening-port=3478 --relay-ip=127.0.0.1 \
      --min-port=50000 --max-port=59999 --lt-cred-mech --user=alice:wonderland --realm=ember.test \
      --allow-loopback-peers --no-tls --no-dtls --no-cli --no-tcp-relay --log-file=stdout \
      --pidfile="$tmp/turnserver.pid" >"$tmp/coturn.log" 2>&1 &
  local pid=$!; pids+=($pid)
  wait_port 3478
  measure coturn "$pid" "$mode"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_ember() {
  local mode=$1
  ip netns exec "$ns" "$relay" --listen 127.0.0.1:3478 --port-range 50000-59999 --realm ember.test \
      --user alice:wonderland --allow-peer 127.0.0.1/32 --rfc5766-channels --user-quota 1000 \
      >"$tmp/ember.log" 2>&1 &
  local pid=$!; pids+=($pid)
  wait_port 3478
  measure ember-relay "$pid" "$mode"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "load: turnutils_uclient -m $m -n $n -l $l -z $z (channel mode, then -s send mode), $rounds rounds"
for round in $(seq "$rounds"); do
  for mode in "" "-s"; do
    # Alternate who goes first, so neither always gets the warmer machine.
    if (( round % 2 )); then run_coturn "$mode"; run_ember "$mode"
    else run_ember "$mode"; run_coturn "$mode"; fi
  done
done

echo "drops: datagrams dropped for a full receive buffer, server sockets / all sockets"
printf '%-12s %-5s %10s %9s %7s %11s %12s %13s\n' server mode 'pkts/s' 'Mbit/s' lost 'drops' 'cpu us/pkt' 'rss KB/alloc'
awk -F'\t' '{printf "%-12s %-5s %10s %9s %7s %11s %12s %13s\n", $1, $2, $3, $4, $5, $8, $6, $7}' "$tmp/results"
python3 - "$tmp/results" <<'PY'
import statistics, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
def med(name, mode, col):
    v = [float(r[col]) for r in rows if r[0] == name and r[1] == mode]
    return statistics.median(v) if v else float('nan')
print("median over rounds:")
for mode in ('-c', '-s'):
    c, e = med('coturn', mode, 5), med('ember-relay', mode, 5)
    print(f"{mode}: cpu per packet coturn {c:.3f} us, ember-relay {e:.3f} us: ember/coturn {e/c:.2f}x; "
          f"throughput {med('ember-relay', mode, 2)/max(1, med('coturn', mode, 2)):.2f}x; "
          f"rss per allocation {med('ember-relay', mode, 6):.1f} vs {med('coturn', mode, 6):.1f} KB")
PY
fi

# ---- veth topology: client | relay | peer namespaces ---------------------
if [[ $topology == veth || $topology == both ]]; then
command -v ethtool >/dev/null || { echo "relay bench: ethtool missing" >&2; exit 1; }
vn=${RELAY_BENCH_VETH_MESSAGES:-20000}
nc=$ns-c; nr=$ns-r; np=$ns-p
ifc=rc$$; ifp=rp$$   # the relay's ends: their napi threads are named after them
cleanup_veth() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for x in "$nc" "$nr" "$np"; do ip netns del "$x" 2>/dev/null || true; done
  cleanup
}
trap cleanup_veth EXIT
ip netns add "$nc"; ip netns add "$nr"; ip netns add "$np"
ip link add c0 netns "$nc" type veth peer name "$ifc" netns "$nr"
ip link add p0 netns "$np" type veth peer name "$ifp" netns "$nr"
ip -n "$nc" addr add 10.96.1.2/24 dev c0; ip -n "$nr" addr add 10.96.1.1/24 dev "$ifc"
ip -n "$nr" addr add 10.96.2.1/24 dev "$ifp"; ip -n "$np" addr add 10.96.2.2/24 dev p0
for x in "$nc" "$nr" "$np"; do ip -n "$x" link set lo up; done
vend() { # ns dev extra-ethtool: up, NAPI (GRO) in a thread of its own
  ip -n "$1" link set "$2" up
  ip netns exec "$1" ethtool -K "$2" gro on $3 >/dev/null
  ip netns exec "$1" sh -c "echo 1 > /sys/class/net/$2/threaded"
}
# The generator's ends send complete UDP checksums, as a wire delivers.
vend "$nc" c0 "tx off"; vend "$np" p0 "tx off"; vend "$nr" "$ifc" ""; vend "$nr" "$ifp" ""
ip netns exec "$nr" ping -c1 -W1 10.96.1.2 >/dev/null; ip netns exec "$nr" ping -c1 -W1 10.96.2.2 >/dev/null
napi_ticks() { # utime+stime of the relay namespace's napi threads
  local t=0 pid
  for pid in $(ps -eo pid=,comm= | awk -v a="napi/$ifc-" -v b="napi/$ifp-" 'index($2, a) == 1 || index($2, b) == 1 {print $1}'); do
    t=$((t + $(cpu_ticks "$pid")))
  done
  echo "$t"
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
vwait() { for _ in $(seq 100); do ip netns exec "$nr" ss -uln | grep -q "10.96.1.1:3478 " && return 0; sleep 0.05; done; return 1; }

ip netns exec "$np" timeout 3600 turnutils_peer -L 10.96.2.2 -p 3480 >/dev/null 2>&1 &
pids+=($!)

vmeasure() { # name pid
  local name=$1 pid=$2 out
  sleep 0.5
  local c0 k0 b0 t0 c1 k1 b1 t1
  c0=$(cpu_ticks "$pid"); k0=$(napi_ticks); b0=$(busy_ticks); t0=$(date +%s.%N)
  out=$(ip netns exec "$nc" timeout 600 turnutils_uclient -c -u alice -w wonderland -e 10.96.2.2 -r 3480 \
          -p 3478 -m "$m" -n "$vn" -l "$l" -z "$z" 10.96.1.1 2>&1 | grep -v msz) || true
  c1=$(cpu_ticks "$pid"); k1=$(napi_ticks); b1=$(busy_ticks); t1=$(date +%s.%N)
  local sent recv lost
  sent=$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  recv=$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  lost=$(grep -o 'Total lost packets [0-9]*' <<<"$out" | tail -1 | awk '{print $4}')
  python3 - "$name" "${sent:-0}" "${recv:-0}" "${lost:-NA}" "$t0" "$t1" "$c0" "$c1" "$k0" "$k1" \
            "$b0" "$b1" "$clk" >>"$tmp/vresults" <<'PY'
import sys
name, sent, recv, lost, t0, t1, c0, c1, k0, k1, b0, b1, clk = sys.argv[1:]
sent, recv, clk = int(sent), int(recv), int(clk)
relayed = sent + recv
secs = float(t1) - float(t0)
us = lambda a, b: (int(b) - int(a)) / clk * 1e6 / relayed if relayed else float('nan')
proc, napi = us(c0, c1), us(k0, k1)
print(f"{name}\t{relayed/secs:.0f}\t{lost}\t{sent}\t{proc:.3f}\t{napi:.3f}\t{proc+napi:.3f}\t{us(b0, b1):.3f}")
PY
}
vcoturn() {
  ip netns exec "$nr" turnserver -n --listening-ip=10.96.1.1 --listening-port=3478 --relay-ip=10.96.2.1 \
      --min-port=50000 --max-port=59999 --lt-cred-mech --user=alice:wonderland --realm=ember.test \
      --no-tls --no-dtls --no-cli --no-tcp-relay --log-file=stdout \
      --pidfile="$tmp/vturnserver.pid" >"$tmp/vcoturn.log" 2>&1 &
  local pid=$!; pids+=($pid)
  vwait
  vmeasure coturn "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
vember() { # name xdp-mode
  local mode
  for mode in $2; do
    ip netns exec "$nr" "$relay" --listen 10.96.1.1:3478 --public-ip4 10.96.2.1 --port-range 50000-59999 \
        --realm ember.test --user alice:wonderland --allow-peer 10.96.2.0/24 --rfc5766-channels \
        --user-quota 1000 --xdp "$mode" --xdp-interface "$ifc" --xdp-interface "$ifp" \
        >"$tmp/vember.log" 2>&1 &
    local pid=$!; pids+=($pid)
    vwait
    # The listener is bound before the program is loaded: wait for its verdict.
    [[ $mode == off ]] || for _ in $(seq 100); do grep -q "XDP fast path" "$tmp/vember.log" && break; sleep 0.05; done
    if [[ $mode == off ]] || grep -q "XDP fast path for bound channels" "$tmp/vember.log"; then
      [[ $mode == off ]] || grep -o "XDP fast path for bound channels.*" "$tmp/vember.log" | sort -u >>"$tmp/vmodes"
      vmeasure "$1" "$pid"
      kill "$pid"; wait "$pid" 2>/dev/null || true
      return
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  echo "relay bench: the XDP program did not attach: $(tail -3 "$tmp/vember.log")" >&2
}

echo "veth topology: turnutils_uclient -c -m $m -n $vn -l $l -z $z (channel mode), $rounds rounds"
for round in $(seq "$rounds"); do
  # Rotate who goes first.
  case $((round % 3)) in
    1) vcoturn; vember ember-off off; vember ember-xdp "native generic" ;;
    2) vember ember-xdp "native generic"; vcoturn; vember ember-off off ;;
    0) vember ember-off off; vember ember-xdp "native generic"; vcoturn ;;
  esac
done
sort -u "$tmp/vmodes" 2>/dev/null | sed 's/^/ember-xdp: /'
printf '%-10s %9s %7s %13s %13s %13s %13s\n' server 'pkts/s' lost 'proc us/pkt' 'napi us/pkt' 'cpu us/pkt' 'busy us/pkt'
awk -F'\t' '{printf "%-10s %9s %7s %13s %13s %13s %13s\n", $1, $2, $3, $5, $6, $7, $8}' "$tmp/vresults"
python3 - "$tmp/vresults" <<'PY'
import statistics, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
def med(name, col):
    v = [float(r[col]) for r in rows if r[0] == name]
    return statistics.median(v) if v else float('nan')
def lost(name):
    return sum(int(r[2]) for r in rows if r[0] == name and r[2].isdigit()), \
           sum(int(r[3]) for r in rows if r[0] == name)
c, off, xdp = med('coturn', 6), med('ember-off', 6), med('ember-xdp', 6)
print("median over rounds, CPU of the relay's namespace per relayed packet (process + its napi threads):")
print(f"  coturn {c:.3f} us, ember-relay --xdp=off {off:.3f} us, ember-relay XDP {xdp:.3f} us")
print(f"  ratios: XDP/coturn {xdp/c:.2f}x, off/coturn {off/c:.2f}x, XDP/off {xdp/off:.2f}x")
for name in ('coturn', 'ember-off', 'ember-xdp'):
    l, s = lost(name)
    print(f"  lost messages {name}: {l} of {s} sent")
PY
fi
