#!/usr/bin/env bash
# Issue 14's DNS benchmark, all on loopback in one run: dnsperf against
# dnsmasq forwarding to a local unbound (cache off, so both forward every
# query), against Ember's stub resolver forwarding to the same unbound
# (tests/dns/bench-stub-shell: the stub behind a small single-threaded
# loopback shell), and against the stub answering names of a dns
# resource itself. Prints queries per second and latency for each, and
# the ratios (goals: forwarding >= dnsmasq's rate, resource answers >= 2x).
# dnsperf reports average, max and standard deviation of the latency, not
# percentiles.
# Usage: bench/dns.sh [BUILD_DIR] [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-10}
shell_exe=$build/tests/dns/bench-dns-stub-shell
[[ -x $shell_exe ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }
for tool in dnsperf unbound dnsmasq; do
  command -v "$tool" >/dev/null || { echo "bench/dns.sh: $tool is not installed" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
uport=$(free_port)
dport=$(free_port)

cat > "$tmp/unbound.conf" <<CONF
server:
  interface: 127.0.0.1@$uport
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$tmp"
  pidfile: ""
  logfile: ""
  use-syslog: no
  do-ip6: no
  module-config: "iterator"
  access-control: 127.0.0.0/8 allow
  num-threads: 1
  local-zone: "lab.test." static
  local-data: "www.lab.test. 300 IN A 192.0.2.80"
CONF
unbound -c "$tmp/unbound.conf" >"$tmp/unbound.log" 2>&1 &
pids+=($!)
dnsmasq --no-daemon --no-resolv --no-hosts --cache-size=0 --port="$dport" \
  --listen-address=127.0.0.1 --bind-interfaces --pid-file= \
  --server="127.0.0.1#$uport" >"$tmp/dnsmasq.log" 2>&1 &
pids+=($!)
"$shell_exe" "$uport" '*.corp.example' >"$tmp/shell.out" 2>"$tmp/shell.err" &
pids+=($!)

for _ in $(seq 100); do
  grep -q '^port ' "$tmp/shell.out" 2>/dev/null && break
  sleep 0.1
done
eport=$(awk '/^port /{print $2}' "$tmp/shell.out")
[[ -n $eport ]] || { echo "bench/dns.sh: the stub shell did not start" >&2; cat "$tmp/shell.err" >&2; exit 1; }
for port in "$uport" "$dport" "$eport"; do
  for _ in $(seq 100); do
    [[ $(dig +short +tries=1 +time=1 -p "$port" @127.0.0.1 www.lab.test 2>/dev/null) == 192.0.2.80 ]] && break
    sleep 0.1
  done
done

for _ in $(seq 200); do echo "www.lab.test A"; done > "$tmp/forward.txt"
for i in $(seq 1000); do echo "host$i.corp.example A"; done > "$tmp/resource.txt"

# run NAME PORT FILE: prints "qps avg max stddev" (latency in ms)
run() {
  dnsperf -s 127.0.0.1 -p "$2" -d "$3" -l "$seconds" -c 4 -q 64 >"$tmp/$1.log" 2>&1 || true
  awk '
    /Queries per second:/ { qps = $4 }
    /Average Latency/ { avg = $4 * 1000; max = $8 * 1000 }
    /Latency StdDev/ { sd = $4 * 1000 }
    /Queries lost:/ { lost = $3 }
    END { printf "%.0f %.3f %.3f %.3f %s\n", qps, avg, max, sd, lost }' "$tmp/$1.log"
}

read -r dq da dm ds dl < <(run dnsmasq "$dport" "$tmp/forward.txt")
read -r eq ea em es el < <(run ember-forward "$eport" "$tmp/forward.txt")
read -r rq ra rm rs rl < <(run ember-resource "$eport" "$tmp/resource.txt")

printf '%-34s %10s %9s %9s %9s %6s\n' "dnsperf, $seconds s each, loopback" "qps" "avg ms" "max ms" "sd ms" "lost"
printf '%-34s %10s %9s %9s %9s %6s\n' "dnsmasq -> unbound (no cache)" "$dq" "$da" "$dm" "$ds" "$dl"
printf '%-34s %10s %9s %9s %9s %6s\n' "ember stub -> unbound" "$eq" "$ea" "$em" "$es" "$el"
printf '%-34s %10s %9s %9s %9s %6s\n' "ember stub, resource names" "$rq" "$ra" "$rm" "$rs" "$rl"
awk -v d="$dq" -v e="$eq" -v r="$rq" -v da="$da" -v ea="$ea" 'BEGIN {
  if (d > 0) {
    printf "forwarding rate, ember / dnsmasq:    %.2f (goal >= 1)\n", e / d
    printf "resource answers, ember / dnsmasq:   %.2f (goal >= 2)\n", r / d
  }
  if (da > 0) printf "average latency, ember / dnsmasq:    %.2f (goal <= 1)\n", ea / da
}'
kill "${pids[2]}" 2>/dev/null || true
wait "${pids[2]}" 2>/dev/null || true
echo "stub counters: $(cat "$tmp/shell.err")"
