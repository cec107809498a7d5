#!/usr/bin/env bash
# Packets per second through the client and gateway tunnel state
# machines in one process (client: resource lookup, connection, encrypt;
# gateway: decrypt, source / resource / filter check), crypto included
# and no I/O, next to the bare wg engine doing the same encapsulate /
# decapsulate in the same run; prints both and their ratio (issue 12's
# goal: >= 0.9). CPU time of the benchmarking thread, best of N rounds.
# Usage: bench/tunnel.sh [BUILD_DIR] [SECONDS_PER_PHASE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bench=$build/tests/tunnel/bench-tunnel
[[ -x $bench ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }
exec "$bench" "${2:-1}" "${3:-5}"
