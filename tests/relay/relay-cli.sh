#!/usr/bin/env bash
# ember-relay's command line: --help names every flag with its
# environment variable, and each bad value stops the program with a
# non-zero exit and a message naming the flag or variable. Binds nothing
# (every case fails before the sockets are opened, or uses port 0).
set -uo pipefail
relay=$1
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

help=$("$relay" --help 2>&1)
for f in listen public-ip4 public-ip6 port-range realm secret secret-file user allow-peer \
         rfc5766-channels user-quota allocation-send-buffer metrics-listen log xdp xdp-interface; do
  env=EMBER_RELAY_$(tr 'a-z-' 'A-Z_' <<<"$f")
  [[ $f == secret-file ]] && env=EMBER_RELAY_SECRET_FILE
  if grep -q -- "--$f" <<<"$help" && grep -q "$env" <<<"$help"; then ok "--help: --$f [$env]"
  else notok "--help lacks --$f or $env"; fi
done

refuse() { # $1: what the message must name; rest: env assignments and flags
  local want=$1; shift
  local out rc
  # Bounded: a value wrongly accepted would leave the relay running.
  out=$(timeout 5 env "$@" 2>&1 </dev/null); rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qF -- "$want" <<<"$out"; then ok "refused, naming $want"
  else notok "expected a refusal naming $want (exit $rc): $out"; fi
}
base=(--listen 127.0.0.1:0)
refuse "--port-range" "$relay" "${base[@]}" --port-range 5000-4000
refuse "--port-range" "$relay" "${base[@]}" --port-range 0-10
refuse "--user-quota" "$relay" "${base[@]}" --user-quota 0
refuse "--allocation-send-buffer" "$relay" "${base[@]}" --allocation-send-buffer -1
refuse "EMBER_RELAY_USER_QUOTA" EMBER_RELAY_USER_QUOTA=many "$relay" "${base[@]}"
refuse "EMBER_RELAY_ALLOCATION_SEND_BUFFER" EMBER_RELAY_ALLOCATION_SEND_BUFFER=abc "$relay" "${base[@]}"
refuse "--user" "$relay" "${base[@]}" --user nocolon
refuse "--public-ip4" "$relay" "${base[@]}" --public-ip4 ::1
refuse "--listen" "$relay" --listen not-an-address:3478
refuse "--log" "$relay" "${base[@]}" --log "info,=bogus=level"
refuse "--xdp" "$relay" "${base[@]}" --xdp fast
refuse "--xdp" EMBER_RELAY_XDP=on "$relay" "${base[@]}"

echo "1..$n"
exit $fail
