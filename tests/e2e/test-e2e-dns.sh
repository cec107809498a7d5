#!/usr/bin/env bash
# Names through Ember end to end (docs/dns.md): the topology of
# scripts/lib/topology.sh with `up --dns` (namespaces prefixed "dNNNN-",
# NNNN from the pid, so runs from two work trees do not collide):
# a dnsmasq on the gateway's LAN serving corp.example, another in the
# public network as the client's resolver, and a dns resource
# *.corp.example in the client's policy. The client's emberd runs with
# [dns] system=file on the namespace's own resolv.conf. Checks what a
# user would: the system resolver (getent) answers a resource name with a
# proxy address, curl fetches the LAN's page by name through the tunnel
# (the gateway resolving and translating), a name outside every resource
# is forwarded to the real upstream, both also over TCP to the sentinel,
# use-application-dns.net is NXDOMAIN, an IPv4-only resource (the
# portal's ip_stack) gets an empty NOERROR for AAAA and a proxy address
# for A, `emberd --status` (JSON and
# table) tells the client's DNS and what the gateway serves to whom,
# and resolv.conf is back byte for byte once emberd stopped, also when
# the stop follows a crash (SIGKILL) and a restart. TAP output.
# Arguments: SOURCE-ROOT BUILD-ROOT
set -uo pipefail
src=$1
build=$2
prefix=d$(($$ % 10000))-
n=0
fail=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { # description command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

if [[ $(id -u) -ne 0 ]]; then echo "1..0 # SKIP needs root (network namespaces)"; exit 0; fi
for t in ip nft ss jq iperf3 curl dnsmasq dig getent; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t is not installed (scripts/deps.sh)"; exit 0; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/ember-dns-e2e-XXXXXX")
topo() { bash "$src/scripts/lib/topology.sh" --dir "$dir" "$@"; }
cleanup() {
  topo --prefix "$prefix" down >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

dump_logs() {
  local f
  for f in "$dir"/emberd-client.log "$dir"/emberd-gateway.log; do
    [[ -f $f ]] || continue
    echo "# --- last lines of $(basename "$f")"
    tail -n 25 "$f" | sed 's/^/# /'
  done
}

if ! topo up --prefix "$prefix" --build "$build" --dns >"$dir.up.log" 2>&1; then
  not_ok "the topology comes up with dnsmasq on the LAN and in the public network"
  sed 's/^/# /' "$dir.up.log"
  rm -f "$dir.up.log"
  echo "1..$n"
  exit 1
fi
rm -f "$dir.up.log"
ok "the topology comes up with dnsmasq on the LAN and in the public network"
resolv=/etc/netns/${prefix}client/resolv.conf
cp "$resolv" "$dir/resolv.conf.orig"

topo emberd-start gateway && topo emberd-start client
if topo wait-joined gateway 30 && topo wait-joined client 30; then
  ok "client and gateway join the portal"
else
  not_ok "client and gateway join the portal"
fi

# emberd rewrites the namespace's resolv.conf once its TUN is up.
sentinel_in_resolv_conf() { grep -q '^nameserver 100\.100\.111\.1$' "$resolv"; }
wait_for() { # seconds command...
  local end=$((SECONDS + $1))
  shift
  until "$@"; do ((SECONDS < end)) || return 1; sleep 0.2; done
}
check "the system resolver is pointed at the stub's sentinel" wait_for 20 sentinel_in_resolv_conf

addr=$(topo exec client getent ahostsv4 app.corp.example | awk 'NR == 1 { print $1 }')
is_proxy() { [[ $addr =~ ^100\.(9[6-9]|1[01][0-9]|12[0-7])\. ]]; }
check "app.corp.example resolves through the system resolver to a proxy address ($addr)" is_proxy

page=$(topo exec client curl -sS --max-time 20 http://app.corp.example/ 2>"$dir/curl.err")
if [[ $page == "ember e2e: the lan resource" ]]; then
  ok "curl http://app.corp.example/ gets the LAN's page through the tunnel"
else
  not_ok "curl http://app.corp.example/ gets the LAN's page through the tunnel (got '$page')"
  sed 's/^/# curl: /' "$dir/curl.err"
  dump_logs
fi

# The same address the next time: proxy addresses are stable per name.
again=$(topo exec client getent ahostsv4 app.corp.example | awk 'NR == 1 { print $1 }')
same_addr() { [[ $again == "$addr" ]]; }
check "the proxy address is stable for the name" same_addr

public=$(topo exec client getent ahostsv4 www.example.net | awk 'NR == 1 { print $1 }')
forwarded() { [[ $public == 192.0.2.80 ]]; }
check "a name outside every resource is forwarded to the real upstream ($public)" forwarded

# DNS over TCP to the sentinel, as resolvers retry truncated answers.
tcp_local=$(topo exec client dig +tcp +short +time=3 +tries=1 @100.100.111.1 app.corp.example A)
tcp_fwd=$(topo exec client dig +tcp +short +time=3 +tries=1 @100.100.111.1 www.example.net A)
over_tcp() { [[ $tcp_local == "$addr" && $tcp_fwd == 192.0.2.80 ]]; }
check "over TCP the sentinel answers the resource name ($tcp_local) and forwards the other ($tcp_fwd)" over_tcp

# The IPv6 sentinel answers too, with the name's IPv6 proxy address.
v6=$(topo exec client dig +short +time=3 +tries=1 @fd00:2021:1111:8000:100:100:111:1 app.corp.example AAAA)
v6_proxy() { [[ $v6 == fd00:2021:1111:8000::* ]]; }
check "the IPv6 sentinel answers AAAA with an IPv6 proxy address ($v6)" v6_proxy

canary=$(topo exec client dig +time=3 +tries=1 @100.100.111.1 use-application-dns.net A)
nxdomain() { grep -q 'status: NXDOMAIN' <<<"$canary"; }
check "use-application-dns.net gets NXDOMAIN" nxdomain

# What emberd --status reports of it (the D-Bus API's Dns and Clients come
# from the same snapshot, tests/dbus): on the client the file backend
# applied, the do53 plugin, the sentinel pair on the TUN in front of the
# public dnsmasq, and one resource name with proxy addresses; on the
# gateway the dns resource it serves and this client with its flow.
client_dns_ok() {
  topo status client 2>/dev/null | jq -e '.dns.system == "file" and .dns.applied == true
    and .dns.plugin == "do53" and (.dns.servers | length) == 1
    and .dns.servers[0].ipv4 == "100.100.111.1"
    and .dns.servers[0].ipv6 == "fd00:2021:1111:8000:100:100:111:1"
    and .dns.servers[0].upstream == "192.0.2.53:53" and .dns.proxy_names == 1' >/dev/null
}
check "emberd --status --json tells the client's DNS: file, applied, do53, sentinels, upstream, 1 name" \
  wait_for 10 client_dns_ok
corp_id=$(topo status client 2>/dev/null | jq -r '.resources[] | select(.name == "corp") | .id')
gateway_serves_ok() {
  topo status gateway 2>/dev/null | jq -e --arg id "$corp_id" '
    (.resources | map(select(.id == $id and .name == "corp" and .type == "dns"
      and .address == "*.corp.example" and .site == "home" and .status == "serving")) | length) == 1
    and (.clients | length) == 1 and .clients[0].authorizations == 1
    and .clients[0].resources == [$id]
    and (.clients[0].id as $c | [.connections[].peer_id] | index($c)) != null
    and .dns.system == "" and .dns.plugin == "do53"
    and .dns.servers[0].upstream == "10.20.0.10:53"' >/dev/null
}
check "emberd --status --json tells what the gateway serves ($corp_id) and to which client" \
  wait_for 10 gateway_serves_ok
cl_table=$(topo exec client "$build/bin/emberd/emberd" --status --config "$dir/client/emberd.conf")
gw_table=$(topo exec gateway "$build/bin/emberd/emberd" --status --config "$dir/gateway/emberd.conf")
gw_client=$(topo status gateway 2>/dev/null | jq -r '.clients[0].id')
tables_ok() {
  grep -Eq '^device: +laptop \([0-9a-f-]{36}\)$' <<<"$cl_table" &&
    grep -Eq '^device: +gw1 \([0-9a-f-]{36}\)$' <<<"$gw_table" &&
    grep -Eq '^dns: +system resolver by file, asking the sentinels; upstreams through do53; 1 name' \
    <<<"$cl_table" &&
    grep -Fq '100.100.111.1  fd00:2021:1111:8000:100:100:111:1 -> 192.0.2.53:53' <<<"$cl_table" &&
    grep -Eq '^corp +\*\.corp\.example +dns +home +1$' <<<"$gw_table" &&
    grep -Eq "^$gw_client +1 +corp\$" <<<"$gw_table" &&
    grep -Eq '^ +-> 10\.20\.0\.10:53$' <<<"$gw_table"
}
if tables_ok; then
  ok "emberd --status prints the same facts as tables"
else
  not_ok "emberd --status prints the same facts as tables"
  sed 's/^/# client: /' <<<"$cl_table"
  sed 's/^/# gateway: /' <<<"$gw_table"
fi

# "legacy" is IPv4 only (ip_stack in the policy file, through the portal
# to the client's stub): AAAA gets NOERROR with no answer, on either
# sentinel, so applications go straight to IPv4; A gets a proxy address.
legacy_aaaa=$(topo exec client dig +time=3 +tries=1 @100.100.111.1 legacy.corp.example AAAA)
legacy_aaaa6=$(topo exec client dig +time=3 +tries=1 @fd00:2021:1111:8000:100:100:111:1 \
  legacy.corp.example AAAA)
legacy_a=$(topo exec client dig +short +time=3 +tries=1 @100.100.111.1 legacy.corp.example A)
empty_noerror() { grep -q 'status: NOERROR' <<<"$1" && grep -q 'ANSWER: 0,' <<<"$1"; }
legacy_ok() {
  empty_noerror "$legacy_aaaa" && empty_noerror "$legacy_aaaa6" &&
    [[ $legacy_a =~ ^100\.(9[6-9]|1[01][0-9]|12[0-7])\. && $legacy_a != "$addr" ]]
}
if legacy_ok; then
  ok "an IPv4-only resource: AAAA is an empty NOERROR, A a proxy address ($legacy_a)"
else
  not_ok "an IPv4-only resource: AAAA is an empty NOERROR, A a proxy address ($legacy_a)"
  sed 's/^/# AAAA: /' <<<"$legacy_aaaa"
  sed 's/^/# AAAA over IPv6: /' <<<"$legacy_aaaa6"
fi
# emberd --status tells the stack the portal said, for dns resources only.
legacy_status_ok() {
  topo status client 2>/dev/null | jq -e '
    ([.resources[] | select(.name == "legacy") | .ip_stack] == ["ipv4"])
    and ([.resources[] | select(.name == "corp") | .ip_stack] == ["dual"])
    and ([.resources[] | select(.name == "lan") | has("ip_stack")] == [false])' >/dev/null
}
check "emberd --status --json tells each dns resource's ip_stack (legacy ipv4, corp dual)" \
  wait_for 10 legacy_status_ok

rc=$(topo emberd-stop client)
stopped() { [[ $rc == 0 ]]; }
check "the client stops with exit 0 ($rc)" stopped
check "resolv.conf is restored byte for byte" cmp -s "$resolv" "$dir/resolv.conf.orig"
# A crash (SIGKILL) leaves resolv.conf pointing at the sentinel; the next
# start puts the original back before anything else (and saves it
# again), so a clean stop after that still restores it byte for byte.
topo emberd-start client
check "the client starts again and points the resolver at the sentinel" \
  wait_for 30 sentinel_in_resolv_conf
kill -9 "$(cat "$dir/emberd-client.pid")" 2>/dev/null
wait_for 10 test -s "$dir/emberd-client.rc"
rm -f "$dir/emberd-client.pid"
check "after SIGKILL resolv.conf still names the sentinel" sentinel_in_resolv_conf
topo emberd-start client
# The file names the sentinel already (the crash left it so): wait for the
# new process to say it pointed the resolver there itself, after which the
# restore at its start is done.
pointed_again() { grep -q 'the system resolver asks' "$dir/emberd-client.log"; }
check "the restarted client points the resolver at the sentinel again" wait_for 30 pointed_again
rc=$(topo emberd-stop client)
check "after a crash and a restart, a clean stop ($rc) restores resolv.conf byte for byte" \
  cmp -s "$resolv" "$dir/resolv.conf.orig"

grc=$(topo emberd-stop gateway)
gateway_stopped() { [[ $grc == 0 ]]; }
check "the gateway stops with exit 0 ($grc)" gateway_stopped
((fail)) && dump_logs

topo --prefix "$prefix" down >/dev/null 2>&1
left=$(topo --prefix "$prefix" leftovers)
nothing_left() { [[ -z $left ]]; }
check "nothing of the topology is left" nothing_left
[[ -z $left ]] || sed 's/^/# left: /' <<<"$left"
echo "1..$n"
exit $fail
