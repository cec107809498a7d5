#!/usr/bin/env bash
# `emberd --list-plugins` run from the build tree finds every in-tree
# plugin without any environment variable, and refuses none; the example
# configuration passes --check-config, and a bad plugin value fails it
# with a message naming the group and the key.
set -euo pipefail
emberd=$1
plugin_dir=$2
example=$3
unset EMBER_PLUGIN_PATH
out=$("$emberd" --list-plugins)
echo "$out" | sed 's/^/# /'
n=0
fail=0
for so in "$plugin_dir"/*/*.so "$plugin_dir"/*/*/*.so; do
  [[ -e $so ]] || continue
  n=$((n + 1))
  if grep -q " $so\$" <<<"$out"; then echo "ok $n - $(basename "$so") listed"
  else echo "not ok $n - $so not listed"; fail=1; fi
done
if ((n == 0)); then echo "ok 1 - # SKIP no in-tree plugin built yet"; n=1; fi
n=$((n + 1))
if "$emberd" --check-config "$example" >/dev/null; then echo "ok $n - example configuration is valid"
else echo "not ok $n - $example rejected"; fail=1; fi
n=$((n + 1))
bad=$(mktemp)
printf '[tun]\nplugin=tun-linux\n[tun-linux]\nqueues=99\n' >"$bad"
msg=$("$emberd" --check-config "$bad" 2>&1) && rc=0 || rc=$?
if ((rc == 0)); then echo "not ok $n - bad queues accepted"; fail=1
elif ((rc != 2)); then echo "not ok $n - exit status $rc for a configuration error, not 2"; fail=1
elif grep -q "\[tun-linux\] queues" <<<"$msg"; then echo "ok $n - bad plugin value names group and key"
else echo "not ok $n - message lacks group and key: $msg"; fail=1; fi
n=$((n + 1))
printf '[daemon]\nmode=client\n[portal]\nurl=ws://192.0.2.1:8080\n[dns]\nsystem=fle\n' >"$bad"
msg=$("$emberd" --check-config "$bad" 2>&1) && rc=0 || rc=$?
if ((rc != 2)); then echo "not ok $n - [dns] system=fle: exit status $rc, not 2"; fail=1
elif grep -q "\[dns\] system" <<<"$msg"; then echo "ok $n - a misspelt [dns] system value is named"
else echo "not ok $n - message lacks group and key: $msg"; fail=1; fi
rm -f "$bad"
echo "1..$n"
exit $fail
