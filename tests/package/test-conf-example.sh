#!/usr/bin/env bash
# The example of a configuration file's man page is a valid file: the
# first ``` block after "# EXAMPLE" goes through PROGRAM --check-config.
# Arguments: PAGE.scd PROGRAM
set -euo pipefail
page=$1
prog=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/^# EXAMPLE/,/^# /p' "$page" | sed -n '/^```/,/^```/p' | sed '1d;$d' >"$tmp/example.conf"
if [[ ! -s $tmp/example.conf ]]; then
  echo "not ok 1 - $(basename "$page") has no example"
  echo "1..1"
  exit 1
fi
if out=$("$prog" --check-config "$tmp/example.conf" 2>&1); then
  echo "ok 1 - the example of $(basename "$page") passes $(basename "$prog") --check-config"
  rc=0
else
  echo "$out" | sed 's/^/# /'
  echo "not ok 1 - the example of $(basename "$page") is refused"
  rc=1
fi
echo "1..1"
exit $rc
