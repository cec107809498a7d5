#!/usr/bin/env bash
# bench/dns.sh through emberd: the end-to-end topology with names
# (scripts/lib/topology.sh up --dns, namespaces "bdns-"), dnsperf in the
# client's namespace against (1) the public dnsmasq directly, (2) emberd's
# stub on the TUN's sentinel 100.100.111.1 forwarding to that dnsmasq
# through the do53 plugin, (3) the stub answering 1000 names of the dns
# resource *.corp.example itself. Every query of (2) and (3) crosses the
# TUN twice (tun-linux's reader and writer threads, emberd's loop).
# Prints queries per second and latency for each and the ratios, the
# CPU time per answered query of emberd's process (all its threads) and
# of the dnsmasq (bench/dns-measure.sh), and the same three runs at one
# offered load (dnsperf -Q; half the slower one's rate unless RATE is
# given, "auto" for that). With ROUNDS > 1 every run is made that many
# times, the servers in turn, and each column is the median. Needs
# root; removes everything it made.
# Usage: bench/dns-emberd.sh [BUILD_DIR] [SECONDS_PER_RUN] [RATE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-10}
rate=${3:-}
[[ $rate == auto ]] && rate=
rounds=${4:-1}
[[ $(id -u) -eq 0 ]] || { echo "bench/dns-emberd.sh: run as root (network namespaces)" >&2; exit 1; }
for tool in dnsperf dnsmasq dig; do
  command -v "$tool" >/dev/null || { echo "bench/dns-emberd.sh: $tool is not installed" >&2; exit 1; }
done
build=$(cd "$build" && pwd)
dir=$(mktemp -d)
topo() { bash scripts/lib/topology.sh --dir "$dir" "$@"; }
trap 'topo --prefix bdns- down >/dev/null 2>&1; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

topo up --prefix bdns- --build "$build" --dns >/dev/null
topo emberd-start gateway
topo emberd-start client
topo wait-joined gateway 30 && topo wait-joined client 30
for _ in $(seq 100); do
  [[ $(topo exec client dig +short +tries=1 +time=1 @100.100.111.1 www.example.net) == 192.0.2.80 ]] && break
  sleep 0.2
done

for _ in $(seq 200); do echo "www.example.net A"; done >"$dir/forward.txt"
for i in $(seq 1000); do echo "host$i.corp.example A"; done >"$dir/resource.txt"
# One pass over the resource names first: each new name gets its proxy
# addresses (a route, the saved map) once, which is not what is measured.
topo exec client dnsperf -s 100.100.111.1 -d "$dir/resource.txt" -n 1 >/dev/null 2>&1 || true

DNS_MEASURE_DIR=$dir
DNS_MEASURE_EXEC="ip netns exec bdns-client"
. bench/dns-measure.sh
mpid=$(cat "$dir/public-dns.pid")
epid=$(cat "$dir/emberd-client.pid")

# NAME SERVER FILE RATE SERVER_PID [UPSTREAM_PID]
run() { dns_measure "$1" "$2" 53 "$3" "$seconds" "$4" "$5" "${6:-}"; }
row() { printf '%-40s %9s %8s %8s %8s %6s %9s %9s\n' "$@"; }

# As fast as dnsperf goes, then all three at one offered load; ROUNDS
# times each, the three in turn, and the median of each column.
for round in $(seq "$rounds"); do
  run dnsmasq-$round 192.0.2.53 "$dir/forward.txt" 0 "$mpid" >>"$dir/dnsmasq.rows"
  run ember-forward-$round 100.100.111.1 "$dir/forward.txt" 0 "$epid" "$mpid" >>"$dir/ember-forward.rows"
  run ember-resource-$round 100.100.111.1 "$dir/resource.txt" 0 "$epid" >>"$dir/ember-resource.rows"
done
read -r dq da dm ds dl dc du < <(dns_median "$dir/dnsmasq.rows")
read -r eq ea em es el ec eu < <(dns_median "$dir/ember-forward.rows")
read -r rq ra rm rs rl rc ru < <(dns_median "$dir/ember-resource.rows")
rate=${rate:-$(dns_measure_rate "$dq" "$eq")}
for round in $(seq "$rounds"); do
  run dnsmasq-q-$round 192.0.2.53 "$dir/forward.txt" "$rate" "$mpid" >>"$dir/dnsmasq-q.rows"
  run ember-forward-q-$round 100.100.111.1 "$dir/forward.txt" "$rate" "$epid" "$mpid" >>"$dir/ember-forward-q.rows"
  run ember-resource-q-$round 100.100.111.1 "$dir/resource.txt" "$rate" "$epid" >>"$dir/ember-resource-q.rows"
done
read -r Dq Da Dm Ds Dl Dc Du < <(dns_median "$dir/dnsmasq-q.rows")
read -r Eq Ea Em Es El Ec Eu < <(dns_median "$dir/ember-forward-q.rows")
read -r Rq Ra Rm Rs Rl Rc Ru < <(dns_median "$dir/ember-resource-q.rows")

row "dnsperf in the client netns, $seconds s x $rounds" qps "avg ms" "max ms" "sd ms" lost "cpu us/q" "dnsmasq"
row "dnsmasq directly (through the NAT)" "$dq" "$da" "$dm" "$ds" "$dl" "$dc" "$du"
row "emberd stub on the TUN -> dnsmasq" "$eq" "$ea" "$em" "$es" "$el" "$ec" "$eu"
row "emberd stub on the TUN, resource names" "$rq" "$ra" "$rm" "$rs" "$rl" "$rc" "$ru"
echo "offered load $rate q/s:"
row "dnsmasq directly (through the NAT)" "$Dq" "$Da" "$Dm" "$Ds" "$Dl" "$Dc" "$Du"
row "emberd stub on the TUN -> dnsmasq" "$Eq" "$Ea" "$Em" "$Es" "$El" "$Ec" "$Eu"
row "emberd stub on the TUN, resource names" "$Rq" "$Ra" "$Rm" "$Rs" "$Rl" "$Rc" "$Ru"
awk -v d="$dq" -v e="$eq" -v r="$rq" -v da="$da" -v ea="$ea" -v ra="$ra" -v dc="$dc" \
    -v ec="$ec" -v rc="$rc" -v Da="$Da" -v Ea="$Ea" -v Ra="$Ra" -v Dc="$Dc" -v Ec="$Ec" \
    -v Rc="$Rc" -v rate="$rate" '
  function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf ("%.2f", a / b) : "-" }
  BEGIN {
    printf "forwarding rate, emberd / dnsmasq:                 %s\n", ratio(e, d)
    printf "resource answers, emberd / dnsmasq:                %s\n", ratio(r, d)
    printf "average latency, emberd forwarding / dnsmasq:      %s, at %d q/s %s\n", ratio(ea, da), rate, ratio(Ea, Da)
    printf "average latency, emberd resource / dnsmasq:        %s, at %d q/s %s\n", ratio(ra, da), rate, ratio(Ra, Da)
    printf "CPU per query, emberd forwarding / dnsmasq:        %s, at %d q/s %s (what the hop costs)\n", ratio(ec, dc), rate, ratio(Ec, Dc)
    printf "CPU per query, dnsmasq / emberd resource answers:  %s, at %d q/s %s (both answer themselves)\n", ratio(dc, rc), rate, ratio(Dc, Rc)
  }'
