#!/usr/bin/env bash
# emberd.conf(5) documents exactly the keys emberd and its plugins accept:
# for each group, the page's "*key*=" entries against the list of known
# keys in the C file that validates that group.
# Arguments: PAGE.scd SOURCE-ROOT
set -euo pipefail
page=$1
src=$2
n=0
fail=0

# The strings of the C array ARRAY in FILE (up to its closing "};").
c_keys() {
  awk -v a="$2[] = {" 'index($0, a) { on = 1 } on { print } on && /};/ { exit }' "$src/$1" |
    grep -oE '"[a-z0-9-]+"' | tr -d '"' | sort -u
}
# The keys of the page's section "# [GROUP]" (up to the next "# " heading).
page_keys() {
  sed -n "/^# \\[$1\\]/,/^# /p" "$page" | grep -E '^\*[a-z0-9-]+\*=' |
    grep -oE '\*[a-z0-9-]+\*=' | tr -d '*=' | sort -u
}
check() {
  local group=$1 file=$2 array=$3
  local code doc missing extra
  code=$(c_keys "$file" "$array")
  doc=$(page_keys "$group")
  n=$((n + 1))
  if [[ -z $code ]]; then
    echo "not ok $n - [$group]: no $array in $file"
    fail=1
    return
  fi
  missing=$(comm -23 <(echo "$code") <(echo "$doc"))
  extra=$(comm -13 <(echo "$code") <(echo "$doc"))
  if [[ -z $missing && -z $extra ]]; then
    echo "ok $n - [$group]: the page documents the $(wc -l <<<"$code") keys of $file"
  else
    echo "not ok $n - [$group]: the page and $file differ"
    [[ -z $missing ]] || echo "# accepted, not documented: $(tr '\n' ' ' <<<"$missing")"
    [[ -z $extra ]] || echo "# documented, not accepted: $(tr '\n' ' ' <<<"$extra")"
    fail=1
  fi
}
check daemon core/config.c daemon_keys
check portal core/config.c portal_keys
check dns core/config.c dns_keys
check tun-linux plugins/tun-linux/config.c known_keys
check turn plugins/relay/turn/turn-config.c known_keys
echo "1..$n"
exit $fail
