#!/usr/bin/env bash
# Longest-prefix-match lookups, side by side in one run: ember-net's
# prefix table (core/net/prefix-table.c) next to the two lookups it
# replaced — a bit-at-a-time trie (wg's allowedips before ember-net) and
# the linear longest-first scan emberd's static-peer mode used — on the
# same random IPv4 and IPv6 tables of 16 to 65536 prefixes and the same
# addresses (3 in 4 inside a prefix of the table). Prints ns per lookup
# (thread CPU time), the ratios reference/ember (> 1: ember is faster),
# and the lookup's share of one ChaCha20-Poly1305 seal of a 1280-byte
# packet, the per-packet crypto a tunnel pays anyway.
# Usage: bench/net-lpm.sh [BUILD_DIR] [PREFIXES...]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
bench=$build/tests/net/bench-net-lpm
[[ -x $bench ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }
exec "$bench" "$@"
