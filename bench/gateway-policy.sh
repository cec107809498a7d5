#!/usr/bin/env bash
# The gateway's packet check next to the crypto it follows, in one process
# and one run: 1280-byte packets through the WireGuard engine's
# decapsulate alone, then decapsulate + parse + the gateway policy's check
# (source, resource, filters) for a client of a gateway with 1000 clients
# of 20 resources each; prints both rates and their ratio (issue 12's goal:
# >= 0.9), then the check alone for small and large tables. CPU time of
# the benchmarking thread, so a busy machine does not skew the ratio.
# Usage: bench/gateway-policy.sh [BUILD_DIR] [SECONDS_PER_PHASE]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bench=$build/tests/tunnel/bench-gateway-policy
[[ -x $bench ]] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 1; }
exec "$bench" "${2:-2}"
