#!/usr/bin/env bash
# Relay throughput: the same turnutils_uclient load against coturn's
# turnserver and against ember-relay, one after the other, on loopback
# inside a network namespace this script creates (and always removes).
# Prints per server: relayed packets/s, Mbit/s, lost messages, server CPU
# per relayed packet (utime+stime from /proc/PID/stat) and resident memory
# per allocation, then the ember/coturn ratios.
#
#   bench/relay.sh [BUILD_DIR]     default: build in the repo root
#   RELAY_BENCH_CLIENTS=10 RELAY_BENCH_MESSAGES=20000 RELAY_BENCH_LENGTH=1000
#   RELAY_BENCH_INTERVAL=1 (ms between messages per session; 0 = flat out)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
relay=$dir/plugins/relay/ember-relay
[[ -x $relay ]] || { echo "relay bench: build $relay first" >&2; exit 1; }
for t in turnserver turnutils_uclient turnutils_peer ip; do
  command -v $t >/dev/null || { echo "relay bench: $t missing" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "relay bench: needs root (network namespace)" >&2; exit 1; }

m=${RELAY_BENCH_CLIENTS:-10}
n=${RELAY_BENCH_MESSAGES:-20000}
l=${RELAY_BENCH_LENGTH:-1000}
z=${RELAY_BENCH_INTERVAL:-1}
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
wait_port() { for _ in $(seq 100); do inns ss -uln | grep -q ":$1 " && return 0; sleep 0.05; done; return 1; }

ip netns exec "$ns" timeout 900 turnutils_peer -L 127.0.0.1 -p 3480 >/dev/null 2>&1 &
pids+=($!)
wait_port 3480

# Runs the load against the server with pid $1; prints one result line.
measure() {
  local name=$1 pid=$2 mode=$3
  sleep 0.5
  local rss0 cpu0 t0 out
  rss0=$(rss_kb "$pid"); cpu0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$(inns timeout 600 turnutils_uclient $mode -u alice -w wonderland -e 127.0.0.1 -r 3480 \
          -p 3478 -m "$m" -n "$n" -l "$l" -z "$z" -c 127.0.0.1 2>&1 | grep -v msz) || true
  local rss1 cpu1 t1
  rss1=$(rss_kb "$pid"); cpu1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  local sent recv lost
  sent=$(grep -o 'tot_send_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  recv=$(grep -o 'tot_recv_msgs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)
  lost=$(grep -o 'Total lost packets [0-9]*' <<<"$out" | tail -1 | awk '{print $4}')
  # Each message crosses the relay twice: client->peer and back.
  python3 - "$name" "$mode" "${sent:-0}" "${recv:-0}" "${lost:-NA}" "$t0" "$t1" "$cpu0" "$cpu1" \
            "$clk" "$rss0" "$rss1" "$m" "$l" >>"$tmp/results" <<'PY'
import sys
name, mode, sent, recv, lost, t0, t1, c0, c1, clk, r0, r1, m, l = sys.argv[1:]
sent, recv, m, l = int(sent), int(recv), int(m), int(l)
relayed = sent + recv
secs = float(t1) - float(t0)
cpu_us = (int(c1) - int(c0)) / int(clk) * 1e6
allocs = 2 * m  # uclient opens an allocation per session end
print(f"{name}\t{mode or '-c'}\t{relayed/secs:.0f}\t{relayed*l*8/secs/1e6:.1f}\t{lost}\t"
      f"{cpu_us/relayed if relayed else float('nan'):.3f}\t{max(0,int(r1)-int(r0))/allocs:.1f}")
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

echo "load: turnutils_uclient -m $m -n $n -l $l -z $z (channel mode, then -s send mode)"
for mode in "" "-s"; do
  run_coturn "$mode"
  run_ember "$mode"
done

printf '%-12s %-5s %12s %9s %6s %14s %14s\n' server mode 'pkts/s' 'Mbit/s' lost 'cpu us/pkt' 'rss KB/alloc'
awk -F'\t' '{printf "%-12s %-5s %12s %9s %6s %14s %14s\n", $1, $2, $3, $4, $5, $6, $7}' "$tmp/results"
python3 - "$tmp/results" <<'PY'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
for mode in ('-c', '-s'):
    c = next((r for r in rows if r[0] == 'coturn' and r[1] == mode), None)
    e = next((r for r in rows if r[0] == 'ember-relay' and r[1] == mode), None)
    if c and e and float(c[5]) > 0:
        print(f"{mode}: ember/coturn cpu per packet {float(e[5])/float(c[5]):.2f}x, "
              f"throughput {float(e[2])/max(1,float(c[2])):.2f}x")
PY
