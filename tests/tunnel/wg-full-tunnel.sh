#!/usr/bin/env bash
# emberd's static-peer mode routes a full tunnel the way wg-quick does.
# Two emberd static peers in two network namespaces joined by a veth
# pair; A's file is a provider-style full tunnel (AllowedIPs = 0.0.0.0/0,
# ::/0) with hooks. B drops echo requests that arrive on the veth, so a
# ping from A to an address of B's only works through the tunnel — and
# the tunnel only works if A's own encrypted UDP does not loop into it.
# Checked: A's default routes are the same before, during (main table
# untouched; Ember's table and rules next to it) and after exit; after
# SIGKILL the rules remain, and the next start removes them before
# PreUp runs and adds exactly one set again; the hooks run with %i in
# wg-quick's order. Everything created is removed on exit, also on
# failure. Needs root.
set -uo pipefail
emberd=$1

if [[ $(id -u) -ne 0 ]]; then echo "1..0 # SKIP needs root"; exit 77; fi
for t in wg ping nft ip; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t not installed"; exit 77; }
done

id=$$
na=wgq-a$id; nb=wgq-b$id
ifa=wgqa$id; ifb=wgqb$id
tmp=$(mktemp -d)
export EMBER_RUN_DIR=$tmp/run EMBER_STATE_DIR=$tmp/state
# DNS = through the resolv.conf backend, on A's own resolv.conf: `ip
# netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf.
export EMBER_DNS_SYSTEM=file
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$na" 2>/dev/null
  ip netns del "$nb" 2>/dev/null
  rm -rf "$tmp" "/etc/netns/$na"
}
trap cleanup EXIT

n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
check() { local what=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/# /' "$tmp/out"; fi; }

ip netns add "$na" && ip netns add "$nb" || exit 1
mkdir -p "/etc/netns/$na" && echo "nameserver 192.0.2.254 # the machine's own" >"/etc/netns/$na/resolv.conf"
cp "/etc/netns/$na/resolv.conf" "$tmp/resolv-before"
ip link add va$id netns "$na" type veth peer name vb$id netns "$nb"
for ns in "$na" "$nb"; do ip -n "$ns" link set lo up; done
ip -n "$na" addr add 10.99.0.1/24 dev va$id; ip -n "$na" addr add fd99::1/64 dev va$id nodad
ip -n "$nb" addr add 10.99.0.2/24 dev vb$id; ip -n "$nb" addr add fd99::2/64 dev vb$id nodad
ip -n "$na" link set va$id up; ip -n "$nb" link set vb$id up
# A's own default routes, the ones that must survive.
ip -n "$na" route add default via 10.99.0.2
ip -n "$na" -6 route add default via fd99::2
# Only reachable through the tunnel: addresses of B's, with echo
# requests that arrive on the veth dropped.
ip -n "$nb" addr add 198.51.100.1/32 dev lo
ip -n "$nb" addr add 2001:db8:ff::1/128 dev lo
ip netns exec "$nb" nft -f - <<NFT
table inet wgqtest {
  chain input {
    type filter hook input priority 0;
    iifname "vb$id" icmp type echo-request drop
    iifname "vb$id" icmpv6 type echo-request drop
  }
}
NFT

ka=$(wg genkey); pa=$(wg pubkey <<<"$ka")
kb=$(wg genkey); pb=$(wg pubkey <<<"$kb")

# A: as a provider hands it out, plus hooks that leave a trace.
cat >"$tmp/a.conf" <<CONF
[Interface]
# Device: test laptop
PrivateKey = $ka
Address = 10.100.0.1/32, fd10::1/128
DNS = 10.100.0.53, fd10::53, corp.example
PreUp = ip rule show > $tmp/rules-at-preup; ip -6 rule show >> $tmp/rules-at-preup
PostUp = echo "up %i" >> $tmp/hooks
PreDown = echo "predown %i" >> $tmp/hooks
PostDown = echo "down %i" >> $tmp/hooks

[Peer]
PublicKey = $pb
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = 10.99.0.2:51821
PersistentKeepalive = 25
CONF
cat >"$tmp/b.conf" <<CONF
[Interface]
PrivateKey = $kb
ListenPort = 51821
Address = 10.100.0.2/24, fd10::2/64

[Peer]
PublicKey = $pa
AllowedIPs = 10.100.0.1/32, fd10::1/128
CONF

start() { # $1: ns, $2: ifname, $3: conf, $4: log
  ip netns exec "$1" "$emberd" --wg-config "$3" --interface "$2" --log info >>"$4" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
  for _ in $(seq 100); do
    grep -q "static-peer mode up" "$4" 2>/dev/null && return 0
    kill -0 "$last_pid" 2>/dev/null || break
    sleep 0.1
  done
  sed 's/^/emberd: /' "$4"; return 1
}
stop() { # $1: pid; returns its exit status
  kill "$1" 2>/dev/null
  local rc=0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1" 2>/dev/null || rc=$?
  [[ $rc -eq 0 ]] || echo "emberd exited with $rc"
  return $rc
}

defaults() { ip -n "$na" route show default; ip -n "$na" -6 route show default; }
defaults >"$tmp/defaults-before"
ip -n "$na" route show table main >"$tmp/main-before"
ip -n "$na" rule show >"$tmp/rules-before"; ip -n "$na" -6 rule show >>"$tmp/rules-before"

same_defaults() { defaults | diff -u "$tmp/defaults-before" -; }
same_main() { ip -n "$na" route show table main | grep -v "dev $ifa" | diff -u "$tmp/main-before" -; }
same_rules() { { ip -n "$na" rule show; ip -n "$na" -6 rule show; } | diff -u "$tmp/rules-before" -; }
count_rules() { # $1: family flag; prints "not-fwmark suppress"
  local r; r=$(ip -n "$na" $1 rule show)
  echo "$(grep -c 'not from all fwmark 0xca6c lookup 51820' <<<"$r") $(grep -c 'from all lookup main suppress_prefixlength 0' <<<"$r")"
}
full_tunnel_up() {
  [[ $(count_rules -4) == "1 1" ]] || { echo "IPv4 rules: $(count_rules -4)"; ip -n "$na" rule show; return 1; }
  [[ $(count_rules -6) == "1 1" ]] || { echo "IPv6 rules: $(count_rules -6)"; ip -n "$na" -6 rule show; return 1; }
  ip -n "$na" route show table 51820 | grep -q "^default dev $ifa" || { ip -n "$na" route show table 51820; return 1; }
  ip -n "$na" -6 route show table 51820 | grep -q "^default dev $ifa" || { ip -n "$na" -6 route show table 51820; return 1; }
}
full_tunnel_gone() {
  same_rules || return 1
  [[ -z $(ip -n "$na" route show table 51820 2>/dev/null) ]] || return 1
  [[ -z $(ip -n "$na" -6 route show table 51820 2>/dev/null) ]]
}
socket_marked() { ip netns exec "$na" ss -uaen | grep -q "fwmark:0xca6c"; }
ping_through() {
  ip netns exec "$na" ping -c 3 -i 0.2 -W 2 198.51.100.1 &&
  ip netns exec "$na" ping -6 -c 3 -i 0.2 -W 2 2001:db8:ff::1
}
blocked_outside() { # the same pings from B's veth neighbour, outside the tunnel, fail
  ! ip netns exec "$na" ping -c 1 -W 1 -I va$id 198.51.100.1
}

check "the echo requests of the veth are dropped (test set-up)" blocked_outside
check "peer B comes up" start "$nb" "$ifb" "$tmp/b.conf" "$tmp/b.log"
check "A comes up with a full tunnel" start "$na" "$ifa" "$tmp/a.conf" "$tmp/a1.log"
a_pid=$last_pid
check "the full tunnel's rules and table are there, once per family" full_tunnel_up
check "A's UDP socket carries the fwmark" socket_marked
check "the default routes of A's main table are untouched" same_defaults
check "A's main table is untouched but for the interface's own routes" same_main
check "a ping to B's addresses goes through the tunnel (IPv4 and IPv6)" ping_through
resolver_set() {
  local r; r=$(ip netns exec "$na" cat /etc/resolv.conf)
  grep -q "^nameserver 10.100.0.53" <<<"$r" && grep -q "^nameserver fd10::53" <<<"$r" &&
  grep -q "corp.example" <<<"$r" && ! grep -q 192.0.2.254 <<<"$r" || { echo "$r"; return 1; }
}
resolver_restored() { diff -u "$tmp/resolv-before" "/etc/netns/$na/resolv.conf"; }
check "DNS: A's resolver is the tunnel's servers and search domain" resolver_set
check "emberd exits 0 on SIGTERM" stop "$a_pid"
check "DNS: A's resolv.conf is restored byte for byte" resolver_restored
check "after exit: rules and table 51820 gone" full_tunnel_gone
check "after exit: the default routes are as before" same_defaults
check "the hooks ran in wg-quick's order with %i" \
  diff -u <(printf 'up %s\npredown %s\ndown %s\n' "$ifa" "$ifa" "$ifa") "$tmp/hooks"

# SIGKILL: the interface goes with the process, the rules stay behind...
check "A comes up again" start "$na" "$ifa" "$tmp/a.conf" "$tmp/a2.log"
a_pid=$last_pid
kill -9 "$a_pid"; wait "$a_pid" 2>/dev/null
for _ in $(seq 50); do ip -n "$na" link show "$ifa" >/dev/null 2>&1 || break; sleep 0.1; done
check "after SIGKILL the rules are left behind (what the next start must clean)" \
  bash -c "[[ \$(ip -n '$na' rule show | grep -c 'lookup 51820') -ge 1 ]]"
check "after SIGKILL the default routes are as before" same_defaults
check "after SIGKILL the killed run's resolv.conf is still there" resolver_set
# ... and the next start removes them before anything else (PreUp sees
# none) and adds exactly one set.
check "A starts after SIGKILL" start "$na" "$ifa" "$tmp/a.conf" "$tmp/a3.log"
a_pid=$last_pid
check "the killed run's rules were gone before PreUp ran" \
  bash -c "! grep -q 'lookup 51820\|suppress_prefixlength' '$tmp/rules-at-preup'"
check "after restart: exactly one set of rules per family" full_tunnel_up
check "after restart: the tunnel carries the pings" ping_through
check "emberd exits 0 on SIGTERM after the restart" stop "$a_pid"
check "finally: rules and table 51820 gone" full_tunnel_gone
check "finally: the default routes are as before" same_defaults
check "finally: A's resolv.conf is restored" resolver_restored
# Table = N: every AllowedIPs route, the defaults included, goes into
# table N and no rule is added (wg-quick's behaviour); nothing in main.
sed -e 's/^PreUp.*//' -e 's/^DNS.*//' -e 's/^\(Address.*\)/\1\nTable = 1234/' "$tmp/a.conf" >"$tmp/a-table.conf"
check "A comes up with Table = 1234" start "$na" "$ifa" "$tmp/a-table.conf" "$tmp/a4.log"
a_pid=$last_pid
table_routes() {
  ip -n "$na" route show table 1234 | grep -q "^default dev $ifa" &&
  ip -n "$na" -6 route show table 1234 | grep -q "^default dev $ifa"
}
check "Table = 1234: the default routes are in table 1234" table_routes
rules_and_defaults() { same_rules && same_defaults; }
check "Table = 1234: no rules, main's default routes untouched" rules_and_defaults
check "Table = 1234: emberd exits 0 on SIGTERM" stop "$a_pid"
check "Table = 1234: the table is empty after exit" \
  bash -c "[[ -z \$(ip -n '$na' route show table 1234) && -z \$(ip -n '$na' -6 route show table 1234) ]]"

# A failing PostUp takes the whole down path: emberd exits 1, PreDown
# and PostDown run, the rules, table and resolver are as before.
sed -e 's/^PreUp.*//' -e 's/^\(PostUp.*\)/\1\nPostUp = exit 7/' "$tmp/a.conf" >"$tmp/a-fail.conf"
postup_fails() {
  : >"$tmp/hooks"
  ip netns exec "$na" timeout 30 "$emberd" --wg-config "$tmp/a-fail.conf" --interface "$ifa" \
    >"$tmp/a6.log" 2>&1
  local rc=$?
  [[ $rc -eq 1 ]] || { echo "exit status $rc"; return 1; }
  grep -q "exit 7" "$tmp/a6.log" || return 1
  diff -u <(printf 'up %s\npredown %s\ndown %s\n' "$ifa" "$ifa" "$ifa") "$tmp/hooks" &&
  full_tunnel_gone && same_defaults && resolver_restored
}
check "a failing PostUp: exit 1, down hooks ran, rules, routes and resolver as before" postup_fails

# A route of someone else's for an AllowedIPs prefix is never replaced:
# emberd refuses to start, names the route, and leaves it as it was.
ip -n "$na" route add 10.55.0.0/24 via 10.99.0.2
sed -e 's/^PreUp.*//' -e 's/^DNS.*//' -e 's|^AllowedIPs.*|AllowedIPs = 10.55.0.0/24, 10.56.0.0/24|' \
  "$tmp/a.conf" >"$tmp/a-conflict.conf"
conflict() {
  ip netns exec "$na" timeout 20 "$emberd" --wg-config "$tmp/a-conflict.conf" --interface "$ifa" \
    >"$tmp/a5.log" 2>&1 && { echo "emberd started"; return 1; }
  grep -q "10.55.0.0/24" "$tmp/a5.log" || { cat "$tmp/a5.log"; return 1; }
  ip -n "$na" route show 10.55.0.0/24 | grep -q "via 10.99.0.2 dev va$id" || return 1
  [[ -z $(ip -n "$na" route show 10.56.0.0/24) ]] || { echo "10.56.0.0/24 left behind"; return 1; }
  ! ip -n "$na" link show "$ifa" >/dev/null 2>&1
}
check "a conflicting route of someone else's: emberd refuses and leaves it alone" conflict

if [[ $fail -ne 0 ]]; then
  for f in a1 a2 a3 a4 a5 a6 b; do [[ -f $tmp/$f.log ]] && sed "s/^/# $f: /" "$tmp/$f.log" | tail -25; done
fi
echo "1..$n"
exit $fail
