#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs every
# fuzz-* executable of the build dir for a bounded time, each on a scratch
# copy of its seed corpus tests/fuzz/corpus/<name>/ (the checked-in corpus
# is never modified). Exits non-zero if any target crashes, leaks or times
# out, and prints the path of the input that did it.
#
#   scripts/fuzz.sh [BUILD_DIR]        default: build-fuzz in the repo root
#   EMBER_FUZZ_SECONDS=20              time per target
#   EMBER_FUZZ_JOBS=$(nproc)           targets run at once
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${1:-build-fuzz}
[[ $dir = /* ]] || dir=$root/$dir
seconds=${EMBER_FUZZ_SECONDS:-20}

# Fuzz builds use werror=false so that clang-only warnings do not break CI.
opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false)
if [[ -f $dir/build.ninja ]]; then
  CC=clang meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
  CC=clang meson setup "$dir" "${opts[@]}" >/dev/null
fi

# Build only the fuzz targets: a half-finished module elsewhere in the
# tree should not stop the parsers from being fuzzed.
mapfile -t targets < <(meson introspect "$dir" --targets | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz-"):
        print(os.path.relpath(t["filename"][0], sys.argv[1]))
' "$dir")
if ((${#targets[@]} == 0)); then
  echo "fuzz: no fuzz-* targets in $dir" >&2
  exit 1
fi
ninja -C "$dir" -j2 "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: its output goes to $work/report, its result to $work/rc.
fuzz_one() {
  local exe=$1 work=$2 name corpus
  name=$(basename "$exe")
  corpus=$root/tests/fuzz/corpus/${name#fuzz-}
  mkdir "$work/corpus"
  {
    if [[ -d $corpus ]]; then
      cp -r "$corpus/." "$work/corpus/"
    else
      echo "fuzz: $name has no seed corpus at $corpus"
    fi
    echo "=== $name: ${seconds}s"
    if "$exe" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
         -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1; then
      grep -E '^stat::number_of_executed_units' "$work/log" || true
      echo 0 >"$work/rc"
    else
      tail -n 40 "$work/log"
      for crash in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [[ -e $crash ]] && echo "fuzz: $name failed; input: $crash"
      done
      echo "fuzz: $name log: $work/log"
      echo 1 >"$work/rc"
    fi
  } >"$work/report" 2>&1
}

# Targets run side by side, one per core: each is single-threaded.
jobs=${EMBER_FUZZ_JOBS:-$(nproc)}
works=()
for rel in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do
    wait -n || true
  done
  work=$(mktemp -d "${TMPDIR:-/tmp}/ember-$(basename "$rel").XXXXXX")
  works+=("$work")
  fuzz_one "$dir/$rel" "$work" &
done
wait

status=0
for work in "${works[@]}"; do
  cat "$work/report"
  if [[ $(cat "$work/rc" 2>/dev/null) == 0 ]]; then
    rm -rf "$work"
  else
    status=1
  fi
done
exit $status
