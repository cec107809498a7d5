#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite
# twice (plain, and under AddressSanitizer + UndefinedBehaviorSanitizer),
# then every fuzz target for a bounded time. Run as root: the netns and
# interop suites create network namespaces and TUN devices.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh

setup() {
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

status=0
run_suite() {
  local dir=$1
  shift
  echo "=== build: $dir"
  setup "$dir" "$@"
  ninja -C "$dir"
  echo "=== test: $dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
}

run_suite build
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false

# The Windows TUN plugin, cross-built with MinGW-w64 and tested under
# wine64. GLib and its dependencies, built from Debian's sources, are
# cached outside the checkout so that the next clone on this machine
# skips that part (about 3 minutes of CPU).
echo "=== windows"
EMBER_WINDOWS_DEPS=${EMBER_WINDOWS_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/windows-deps} \
  scripts/build-windows.sh "$root/build-windows" || status=1

if [[ -x scripts/fuzz.sh ]]; then
  echo "=== fuzz"
  scripts/fuzz.sh "$root/build-fuzz" || status=1
fi

# One closing line over both runs, in the plain "N passed, N failed" form.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-windows/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
