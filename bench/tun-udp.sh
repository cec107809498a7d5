#!/bin/sh
# tun-udp.sh — TUN and UDP data-path speed-ups, measured side by side.
#
# In one run:
#   - the tun-linux plugin in a network namespace of its own: plain (one
#     queue), multi-queue (2, 4; seed 004) and offloads (TSO/USO split and
#     GSO coalescing), each: TCP Gbit/s through a reflecting far end,
#     packets/s written to and read from the TUN;
#   - core/io UDP send rate with the GSO queue (seed 002) vs plain sendmmsg.
# Ratios are against the plain variant of each. Needs root for the TUN part
# (it is skipped otherwise). Usage: bench/tun-udp.sh [BUILD_DIR] [SECONDS]
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$here/build"}
secs=${2:-3}

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$here" >/dev/null
fi
ninja -C "$build" tests/tun/bench-tun tests/io/bench-udp-gso \
  plugins/tun-linux/tun-linux.so >/dev/null

export EMBER_BUILD_ROOT="$build"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== UDP send, 1200-byte datagrams on loopback (${secs}s each)"
"$build/tests/io/bench-udp-gso" "$secs" | tee "$tmp/udp"
awk '$1=="gso"{g=$2} $1=="plain"{p=$2}
     END{if (p>0) printf "ratio gso/plain sent_pps: %.2fx\n", g/p}' "$tmp/udp"

echo
echo "== TUN (tun-linux plugin, netns, ${secs}s per measurement)"
if [ "$(id -u)" != 0 ]; then
  echo "skipped: needs root"
  exit 0
fi
"$build/tests/tun/bench-tun" "$secs" 2>/dev/null | tee "$tmp/tun"
awk 'NR>1 && NF==4 {t[$1]=$2; w[$1]=$3; r[$1]=$4; order[n++]=$1}
     END{
       for (i=1; i<n; i++) { m=order[i];
         printf "ratio %s/plain: tcp %.2fx  write_pps %.2fx  read_pps %.2fx\n", m,
           (t["plain"]>0 ? t[m]/t["plain"] : 0), (w["plain"]>0 ? w[m]/w["plain"] : 0),
           (r["plain"]>0 ? r[m]/r["plain"] : 0) }
     }' "$tmp/tun"
