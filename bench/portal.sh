#!/usr/bin/env bash
# Portal scale: N client sessions joined to one `ember-portal serve` over
# loopback WebSockets (bench/portal-load, a C load generator), then one
# change written to the store by another process, the way `apply` does.
# Prints: join rate and latency, the server's resident memory per session
# (VmRSS after all joined minus before, from /proc), and the time from
# the change until every session got resource_created_or_updated, each
# against the goal of issue 11 (10,000 sessions < 300 MB, fan-out < 1 s)
# as a ratio (below 1.00 meets it). There is no packaged portal to run
# side by side, so the goal is the reference.
#
#   bench/portal.sh [BUILD_DIR]        default: build
#   PORTAL_BENCH_SESSIONS=10000 PORTAL_BENCH_CONCURRENCY=200
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
portal=$dir/bin/ember-portal/ember-portal
load=$dir/bench/portal-load
for b in "$portal" "$load"; do
  [[ -x $b ]] || { echo "portal bench: build $b first" >&2; exit 1; }
done
n=${PORTAL_BENCH_SESSIONS:-10000}
conc=${PORTAL_BENCH_CONCURRENCY:-200}
goal_rss_mb=300
goal_fanout_s=1

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The server and the generator each hold one descriptor per session.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < n + 100 )); then
  echo "portal bench: RLIMIT_NOFILE $(ulimit -n) is below $n sessions" >&2
  exit 1
fi

mkdir -p "$tmp/state"
cat >"$tmp/portal.conf" <<CONF
[portal]
listen=127.0.0.1:0
state-dir=$tmp/state
admin-listen=
# every session comes from 127.0.0.1: the per-address join limit would
# (rightly) stop a flood like this one
join-rate=1000000
join-burst=1000000
CONF

echo "portal bench: creating $n clients and tokens" >&2
"$load" setup --state-dir "$tmp/state" --clients "$n" --tokens "$tmp/tokens"

"$portal" serve --config "$tmp/portal.conf" --log info 2>"$tmp/serve.log" &
spid=$!
pids+=("$spid")
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on ws:.*(port \([0-9]*\)).*/\1/p' "$tmp/serve.log" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { cat "$tmp/serve.log" >&2; echo "portal bench: serve did not start" >&2; exit 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$spid/status"; }
rss0=$(rss_kb)

echo "portal bench: $n sessions against port $port" >&2
mkfifo "$tmp/go"
"$load" run --port "$port" --tokens "$tmp/tokens" --concurrency "$conc" \
  --state-dir "$tmp/state" <"$tmp/go" >"$tmp/load.out" &
lpid=$!
pids+=("$lpid")
exec 3>"$tmp/go"   # held open: the generator waits for a line on it
until grep -q '^READY' "$tmp/load.out" 2>/dev/null; do
  kill -0 "$lpid" 2>/dev/null || { cat "$tmp/load.out" >&2; echo "portal bench: load generator failed" >&2; exit 1; }
  sleep 0.2
done
sleep 1
rss1=$(rss_kb)
echo go >&3
wait "$lpid" || true
exec 3>&-
declare -A r
while IFS=' ' read -r k v; do [[ -n $v ]] && r[$k]=$v; done <"$tmp/load.out"

per_kb=$(( (rss1 - rss0) / (r[sessions] > 0 ? r[sessions] : 1) ))
total_mb=$(awk -v k="$rss1" 'BEGIN {printf "%.1f", k / 1024}')
proj_mb=$(awk -v b="$rss0" -v p="$per_kb" 'BEGIN {printf "%.1f", (b + p * 10000) / 1024}')
printf '%-34s %s\n' "sessions joined / failed" "${r[sessions]} / ${r[failed]}"
printf '%-34s %s s (%s joins/s)\n' "all joined in" "${r[join_total_s]}" "${r[joins_per_s]}"
printf '%-34s %s ms / %s ms\n' "join latency p50 / p99" "${r[join_p50_ms]}" "${r[join_p99_ms]}"
printf '%-34s %s MB (idle %s MB)\n' "server RSS" "$total_mb" "$(awk -v k="$rss0" 'BEGIN {printf "%.1f", k / 1024}')"
printf '%-34s %s KB\n' "RSS per session" "$per_kb"
printf '%-34s %s MB, goal %s MB, ratio %s\n' "RSS at 10,000 sessions" "$proj_mb" "$goal_rss_mb" \
  "$(awk -v a="$proj_mb" -v g="$goal_rss_mb" 'BEGIN {printf "%.2f", a / g}')"
printf '%-34s %s s (store write %s s)\n' "change -> all ${r[fanout_sessions]:-0} sessions" \
  "${r[fanout_all_s]:--}" "${r[apply_s]:--}"
printf '%-34s %s s / %s s\n' "change -> first / half" "${r[fanout_first_s]:--}" "${r[fanout_p50_s]:--}"
grep -o 'fan-out: .*' "$tmp/serve.log" | tail -1 | sed 's/^/server: /' || true
printf '%-34s %s\n' "fan-out / goal (${goal_fanout_s} s)" \
  "$(awk -v a="${r[fanout_all_s]:-99}" -v g="$goal_fanout_s" 'BEGIN {printf "%.2f", a / g}')"
# Shared machines make wall-clock figures noisy: say how busy it was.
printf '%-34s %s\n' "load average (1/5/15 min)" "$(cut -d' ' -f1-3 /proc/loadavg)"
