#!/usr/bin/env bash
# Checks that each man page documents exactly the options its program's
# --help prints: every long option of --help has an entry in the page's
# OPTIONS section, and the page lists no option the program lacks.
# Arguments: pairs of PAGE.scd PROGRAM [VERB...] separated by "--";
# with verbs, the options of every `PROGRAM VERB --help` are merged.
set -euo pipefail

n=0
fail=0
check() {
  local page=$1 prog=$2
  shift 2
  local help
  if (($# == 0)); then
    help=$("$prog" --help-all)
  else
    help=$(for verb in "$@"; do "$prog" "$verb" --help; done)
  fi
  # Option lines of GLib's --help: "  -x, --name=ARG   text" or "  --name   text".
  local from_help from_page
  from_help=$(grep -E '^  +(-[[:alnum:]], )?--[[:alnum:]-]+' <<<"$help" |
    sed -E 's/^ +(-[[:alnum:]], )?(--[[:alnum:]-]+).*/\2/' | sort -u)
  # Entries of the page's OPTIONS section: lines that start with "*-".
  from_page=$(sed -n '/^# OPTIONS/,/^# [A-Z]/p' "$page" | grep -E '^\*-' |
    grep -oE -- '--[[:alnum:]-]+' | sort -u)
  n=$((n + 1))
  local missing extra
  missing=$(comm -23 <(echo "$from_help") <(echo "$from_page"))
  extra=$(comm -13 <(echo "$from_help") <(echo "$from_page"))
  if [[ -z $missing && -z $extra ]]; then
    echo "ok $n - $(basename "$page") lists the $(wc -l <<<"$from_help") options of $(basename "$prog") --help"
  else
    echo "not ok $n - $(basename "$page") and $(basename "$prog") --help differ"
    [[ -z $missing ]] || echo "# in --help, not in the page: $(tr '\n' ' ' <<<"$missing")"
    [[ -z $extra ]] || echo "# in the page, not in --help: $(tr '\n' ' ' <<<"$extra")"
    fail=1
  fi
}

args=()
for a in "$@"; do
  if [[ $a == -- ]]; then
    check "${args[@]}"
    args=()
  else
    args+=("$a")
  fi
done
((${#args[@]} == 0)) || check "${args[@]}"
echo "1..$n"
exit $fail
