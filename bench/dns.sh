#!/usr/bin/env bash
# Issue 14's DNS benchmark, all on loopback in one run: dnsperf against
# dnsmasq forwarding to a local unbound (cache off, so both forward every
# query), against Ember's stub resolver forwarding to the same unbound
# (tests/dns/bench-stub-shell: the stub behind a small single-threaded
# loopback shell), and against the stub answering names of a dns
# resource itself. Prints queries per second and latency for each, and
# the ratios (goals: forwarding >= dnsmasq's rate at no worse latency,
# resource answers >= 2x).
# dnsperf reports average, max and standard deviation of the latency, not
# percentiles.
# Each run also gives the CPU time the server's process spent per
# answered query (bench/dns-measure.sh), and for forwarding unbound's;
# then the same three at one offered load (dnsperf -Q, half the slower
# forwarder's rate unless RATE is given) so that the latencies compare
# service times rather than queues. With ROUNDS > 1 every run is made
# that many times, the servers in turn (so a burst of other load hits
# each), and each column is the median: the machine is shared and one
# 10 s run can be off by 2x. RATE "auto" (or empty) picks the rate.
# Usage: bench/dns.sh [BUILD_DIR] [SECONDS_PER_RUN] [RATE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-10}
rate=${3:-}
[[ $rate == auto ]] && rate=
rounds=${4:-1}
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

DNS_MEASURE_DIR=$tmp
DNS_MEASURE_EXEC=
. bench/dns-measure.sh
upid=${pids[0]} mpid=${pids[1]} spid=${pids[2]}

# NAME PORT FILE RATE SERVER_PID [UPSTREAM_PID]
run() { dns_measure "$1" 127.0.0.1 "$2" "$3" "$seconds" "$4" "$5" "${6:-}"; }
row() { printf '%-34s %9s %8s %8s %8s %6s %9s %9s\n' "$@"; }

# As fast as dnsperf goes, then all three at one offered load; ROUNDS
# times each, the three in turn, and the median of each column.
for round in $(seq "$rounds"); do
  run dnsmasq-$round "$dport" "$tmp/forward.txt" 0 "$mpid" "$upid" >>"$tmp/dnsmasq.rows"
  run ember-forward-$round "$eport" "$tmp/forward.txt" 0 "$spid" "$upid" >>"$tmp/ember-forward.rows"
  run ember-resource-$round "$eport" "$tmp/resource.txt" 0 "$spid" >>"$tmp/ember-resource.rows"
done
read -r dq da dm ds dl dc du < <(dns_median "$tmp/dnsmasq.rows")
read -r eq ea em es el ec eu < <(dns_median "$tmp/ember-forward.rows")
read -r rq ra rm rs rl rc ru < <(dns_median "$tmp/ember-resource.rows")
rate=${rate:-$(dns_measure_rate "$dq" "$eq")}
for round in $(seq "$rounds"); do
  run dnsmasq-q-$round "$dport" "$tmp/forward.txt" "$rate" "$mpid" "$upid" >>"$tmp/dnsmasq-q.rows"
  run ember-forward-q-$round "$eport" "$tmp/forward.txt" "$rate" "$spid" "$upid" >>"$tmp/ember-forward-q.rows"
  run ember-resource-q-$round "$eport" "$tmp/resource.txt" "$rate" "$spid" >>"$tmp/ember-resource-q.rows"
done
read -r Dq Da Dm Ds Dl Dc Du < <(dns_median "$tmp/dnsmasq-q.rows")
read -r Eq Ea Em Es El Ec Eu < <(dns_median "$tmp/ember-forward-q.rows")
read -r Rq Ra Rm Rs Rl Rc Ru < <(dns_median "$tmp/ember-resource-q.rows")

row "dnsperf, $seconds s, median of $rounds" qps "avg ms" "max ms" "sd ms" lost "cpu us/q" "unbound"
row "dnsmasq -> unbound (no cache)" "$dq" "$da" "$dm" "$ds" "$dl" "$dc" "$du"
row "ember stub -> unbound" "$eq" "$ea" "$em" "$es" "$el" "$ec" "$eu"
row "ember stub, resource names" "$rq" "$ra" "$rm" "$rs" "$rl" "$rc" "$ru"
echo "offered load $rate q/s:"
row "dnsmasq -> unbound (no cache)" "$Dq" "$Da" "$Dm" "$Ds" "$Dl" "$Dc" "$Du"
row "ember stub -> unbound" "$Eq" "$Ea" "$Em" "$Es" "$El" "$Ec" "$Eu"
row "ember stub, resource names" "$Rq" "$Ra" "$Rm" "$Rs" "$Rl" "$Rc" "$Ru"
awk -v d="$dq" -v e="$eq" -v r="$rq" -v da="$da" -v ea="$ea" -v dc="$dc" -v ec="$ec" \
    -v rc="$rc" -v Da="$Da" -v Ea="$Ea" -v Dc="$Dc" -v Ec="$Ec" -v Rc="$Rc" -v rate="$rate" '
  function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf ("%.2f", a / b) : "-" }
  BEGIN {
    printf "forwarding rate, ember / dnsmasq:              %s (goal >= 1)\n", ratio(e, d)
    printf "resource answers, ember / dnsmasq:             %s (goal >= 2)\n", ratio(r, d)
    printf "average latency, ember / dnsmasq:              %s (goal <= 1)\n", ratio(ea, da)
    printf "at %d q/s: average latency, ember / dnsmasq:   %s (goal <= 1)\n", rate, ratio(Ea, Da)
    printf "CPU per query, forwarding, dnsmasq / ember:    %s at full load, %s at %d q/s (goal >= 1)\n", ratio(dc, ec), ratio(Dc, Ec), rate
    printf "CPU per query, dnsmasq forwarding / ember resource answers: %s, %s (goal >= 2)\n", ratio(dc, rc), ratio(Dc, Rc)
  }'
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
echo "stub counters: $(cat "$tmp/shell.err")"
