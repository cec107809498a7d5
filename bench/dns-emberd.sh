#!/usr/bin/env bash
# bench/dns.sh through emberd: the end-to-end topology with names
# (scripts/lib/topology.sh up --dns, namespaces "bdns-"), dnsperf in the
# client's namespace against (1) the public dnsmasq directly, (2) emberd's
# stub on the TUN's sentinel 100.100.111.1 forwarding to that dnsmasq
# through the do53 plugin, (3) the stub answering 1000 names of the dns
# resource *.corp.example itself. Every query of (2) and (3) crosses the
# TUN twice (tun-linux's reader and writer threads, emberd's loop).
# Prints queries per second and latency for each and the ratios. Needs
# root; removes everything it made.
# Usage: bench/dns-emberd.sh [BUILD_DIR] [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-10}
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

# run NAME SERVER FILE: prints "qps avg max stddev lost" (latency in ms)
run() {
  topo exec client dnsperf -s "$2" -d "$3" -l "$seconds" -c 4 -q 64 >"$dir/$1.log" 2>&1 || true
  awk '
    /Queries per second:/ { qps = $4 }
    /Average Latency/ { avg = $4 * 1000; max = $8 * 1000 }
    /Latency StdDev/ { sd = $4 * 1000 }
    /Queries lost:/ { lost = $3 }
    END { printf "%.0f %.3f %.3f %.3f %s\n", qps, avg, max, sd, lost }' "$dir/$1.log"
}

read -r dq da dm ds dl < <(run dnsmasq 192.0.2.53 "$dir/forward.txt")
read -r eq ea em es el < <(run ember-forward 100.100.111.1 "$dir/forward.txt")
read -r rq ra rm rs rl < <(run ember-resource 100.100.111.1 "$dir/resource.txt")

printf '%-40s %10s %9s %9s %9s %6s\n' "dnsperf in the client netns, $seconds s each" "qps" "avg ms" "max ms" "sd ms" "lost"
printf '%-40s %10s %9s %9s %9s %6s\n' "dnsmasq directly (through the NAT)" "$dq" "$da" "$dm" "$ds" "$dl"
printf '%-40s %10s %9s %9s %9s %6s\n' "emberd stub on the TUN -> dnsmasq" "$eq" "$ea" "$em" "$es" "$el"
printf '%-40s %10s %9s %9s %9s %6s\n' "emberd stub on the TUN, resource names" "$rq" "$ra" "$rm" "$rs" "$rl"
awk -v d="$dq" -v e="$eq" -v r="$rq" -v da="$da" -v ea="$ea" 'BEGIN {
  if (d > 0) {
    printf "forwarding rate, emberd / dnsmasq:   %.2f\n", e / d
    printf "resource answers, emberd / dnsmasq:  %.2f\n", r / d
  }
  if (da > 0) printf "average latency, emberd / dnsmasq:   %.2f\n", ea / da
}'
