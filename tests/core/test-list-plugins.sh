#!/usr/bin/env bash
# `emberd --list-plugins` run from the build tree finds every in-tree
# plugin without any environment variable, and refuses none.
set -euo pipefail
emberd=$1
plugin_dir=$2
unset EMBER_PLUGIN_PATH
out=$("$emberd" --list-plugins)
echo "$out" | sed 's/^/# /'
n=0
fail=0
for so in "$plugin_dir"/*/*.so; do
  [[ -e $so ]] || continue
  n=$((n + 1))
  if grep -q " $so\$" <<<"$out"; then echo "ok $n - $(basename "$so") listed"
  else echo "not ok $n - $so not listed"; fail=1; fi
done
if ((n == 0)); then echo "ok 1 - # SKIP no in-tree plugin built yet"; n=1; fi
echo "1..$n"
exit $fail
