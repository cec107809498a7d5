#!/usr/bin/env bash
# The end-to-end topology of Ember in network namespaces: one
# implementation for scripts/demo.sh, tests/e2e and bench/e2e.sh.
#
#              PUBLIC  ember-portal serve  192.0.2.10:8080 (real SQLite file)
#                      ember-relay r1      192.0.2.20:3478
#                      ember-relay r2      192.0.2.21:3478
#        198.51.100.1 /            \ 198.51.100.5
#   198.51.100.2  NATC              NATG  198.51.100.6     nftables masquerade,
#     10.1.0.1     |                 |     10.2.0.1        endpoint-independent mapping
#     10.1.0.2  CLIENT            GATEWAY  10.2.0.2
#                                    |     10.20.0.1, 10.30.0.1
#                                   LAN    10.20.0.10: HTTP :80, iperf3 :5201, HTTP :22
#                                          10.30.0.10: HTTP :80 (outside the client's policy)
#
# Namespaces are PREFIX + public, natc, natg, client, gateway, lan;
# interfaces PREFIX + two letters; nftables tables PREFIX (with '-' as
# '_') + a word, each inside a namespace. Nothing is created in the
# namespace the script runs in. Documentation (RFC 5737) and private
# addresses only; the tunnel addresses come from the portal.
#
# The routers behave like home routers: masquerade keeps the source port
# of the inside socket (so one inside socket keeps one outside mapping
# whatever it talks to: endpoint-independent mapping), and unsolicited
# datagrams from outside are dropped in the input hook, before conntrack
# confirms them, so a peer's early probe cannot take the port a later
# mapping needs (address-and-port-dependent filtering). `block-direct`
# drops UDP forwarded between the two routers in PUBLIC; the relays,
# which PUBLIC itself runs, still carry it. `natc-ports shift` makes
# NATC a carrier-grade NAT for UDP sockets started after it: each inside
# socket gets one outside port whatever it talks to (still
# endpoint-independent), but never its own (bit 13 flipped).
#
# The portal gets a policy (ember-portal apply): site "home", resource
# "lan" 10.20.0.0/24 with filters tcp/80, tcp/5201 and icmp for group
# "staff" (client "laptop"), resource "vault" 10.30.0.0/24 for group
# "admins" only; a client token for "laptop" and a gateway token for
# "gw1" (ember-portal token create). emberd's configuration for both ends
# ([daemon] mode, state-dir, runtime-dir; [portal] url, token-file;
# [tun-linux] name; [dns] system) is written to DIR/client and
# DIR/gateway; emberd is started by the caller (emberd-start). The
# client leaves the system's resolver alone ([dns] system=none) unless
# `up --dns`, which adds names:
#
#   LAN     dnsmasq on 10.20.0.10:53: corp.example and every name under
#           it are 10.20.0.10 (the gateway's resolver, through the
#           namespace's own resolv.conf, /etc/netns/GATEWAY/resolv.conf)
#   PUBLIC  dnsmasq on 192.0.2.53:53: www.example.net is 192.0.2.80 (the
#           client's resolver before emberd runs, /etc/netns/CLIENT/...)
#   policy  resource "corp", dns *.corp.example, tcp/80 and icmp, and
#           resource "legacy", dns legacy.corp.example, IPv4 only
#           (ip_stack), for staff; the client's [dns] system=file points
#           the namespace's resolv.conf at emberd's stub (restored when it
#           stops).
#
# Use as a command (every command but `up` reads the rest from DIR/env):
#   topology.sh up --prefix P --dir DIR --build BUILD [--relayed] [--dns]
#   topology.sh down --dir DIR [--prefix P]     # idempotent; also after a failed up
#   topology.sh emberd-start client|gateway [EMBERD-ARGS...]
#   topology.sh emberd-stop client|gateway      # SIGTERM, waits, prints the exit code
#   topology.sh status client|gateway           # emberd --status --json
#   topology.sh wait-joined client|gateway [SECONDS]
#   topology.sh block-direct on|off
#   topology.sh natc-ports shift|keep           # NATC: outside port = inside port ^ 0x2000, or kept
#   topology.sh portal-stop | portal-start
#   topology.sh relay-kill r1|r2 | relay-start r1|r2
#   topology.sh policy granted|revoked          # revoked: staff no longer gets "lan"
#   topology.sh exec NODE CMD...                # NODE: public natc natg client gateway lan
#   topology.sh counter NAME                    # packets LAN saw: vault (to 10.30.0.10), ssh (tcp/22);
#                                               # prohibited: ICMP prohibited the client got
#   topology.sh leftovers                       # prints what of this topology still exists
# with --dir DIR before the command. Sourced, the same commands are the
# functions topo_up, topo_down, topo_emberd_start ... with TOPO_PREFIX,
# TOPO_DIR and TOPO_BUILD set first. Processes started in the background
# write their output to DIR/NAME.log and their pid to DIR/NAME.pid.
# Needs root, iproute2, nftables, python3 and iperf3.

TOPO_NODES=(public natc natg client gateway lan)
TOPO_PORTAL=192.0.2.10
TOPO_PORTAL_PORT=8080
TOPO_RELAY_r1=192.0.2.20
TOPO_RELAY_r2=192.0.2.21
TOPO_LAN_HOST=10.20.0.10
TOPO_PUBLIC_DNS=192.0.2.53
TOPO_VAULT_HOST=10.30.0.10
TOPO_NATC_WAN=198.51.100.2
TOPO_NATG_WAN=198.51.100.6

topo_ns() { echo "${TOPO_PREFIX}$1"; }
topo_exec() { local node=$1; shift; ip netns exec "$(topo_ns "$node")" "$@"; }
topo_log() { echo "topology: $*" >&2; }
topo_table() { echo "${TOPO_PREFIX//-/_}$1"; }
topo_emberd() { echo "$TOPO_BUILD/bin/emberd/emberd"; }

# Start NAME in NODE in the background: output to DIR/NAME.log, pid to DIR/NAME.pid.
topo_spawn() {
  local name=$1 node=$2
  shift 2
  ip netns exec "$(topo_ns "$node")" "$@" >"$TOPO_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$TOPO_DIR/$name.pid"
}

topo_alive() { [[ -f $TOPO_DIR/$1.pid ]] && kill -0 "$(cat "$TOPO_DIR/$1.pid")" 2>/dev/null; }

# Stop NAME (SIGTERM, then SIGKILL after 5 s); prints nothing.
topo_stop() {
  local name=$1 pid
  [[ -f $TOPO_DIR/$name.pid ]] || return 0
  pid=$(cat "$TOPO_DIR/$name.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$TOPO_DIR/$name.pid"
}

# Wait up to $2 seconds (default 5) for the command $3... to succeed.
topo_wait() {
  local secs=$1
  shift
  local end=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

topo_tcp_listening() { [[ -n $(topo_exec "$1" ss -Hltn "src $2 and sport = :$3") ]]; }
topo_udp_bound() { [[ -n $(topo_exec "$1" ss -Hlun "src $2 and sport = :$3") ]]; }

topo_link() { # ns-a if-a addr-a ns-b if-b addr-b (addresses with prefix length)
  ip link add "$2" netns "$(topo_ns "$1")" type veth peer name "$5" netns "$(topo_ns "$4")"
  ip -n "$(topo_ns "$1")" addr add "$3" dev "$2"
  ip -n "$(topo_ns "$4")" addr add "$6" dev "$5"
  ip -n "$(topo_ns "$1")" link set "$2" up
  ip -n "$(topo_ns "$4")" link set "$5" up
}

topo_router_nft() { # node wan-ifname
  topo_exec "$1" nft -f - <<EOF
table ip $(topo_table nat) {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$2" masquerade
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$2" ct state new counter drop
  }
}
EOF
}

topo_write_policy() { # granted|revoked -> file path on stdout
  local file=$TOPO_DIR/portal/policy-$1.json staff_policy='' corp=''
  [[ $1 == granted ]] && staff_policy='{"group": "staff", "resource": "lan"}, '
  if [[ -f $TOPO_DIR/dns ]]; then
    corp=',
               {"name": "corp", "type": "dns", "address": "*.corp.example", "site": "home",
                "filters": [{"protocol": "tcp", "ports": "80"}, {"protocol": "icmp"}]},
               {"name": "legacy", "type": "dns", "address": "legacy.corp.example",
                "ip_stack": "ipv4", "site": "home", "filters": [{"protocol": "tcp", "ports": "80"}]}'
    [[ $1 == granted ]] && staff_policy+='{"group": "staff", "resource": "corp"}, {"group": "staff", "resource": "legacy"}, '
  fi
  cat >"$file" <<EOF
{"sites": [{"name": "home"}],
 "resources": [{"name": "lan", "type": "cidr", "address": "10.20.0.0/24", "site": "home",
                "filters": [{"protocol": "tcp", "ports": "80,5201"}, {"protocol": "icmp"}]},
               {"name": "vault", "type": "cidr", "address": "10.30.0.0/24", "site": "home"}$corp],
 "groups": [{"name": "staff", "clients": ["laptop"]}, {"name": "admins", "clients": ["ops"]}],
 "policies": [${staff_policy}{"group": "admins", "resource": "vault"}]}
EOF
  echo "$file"
}

topo_portal() { "$TOPO_BUILD/bin/ember-portal/ember-portal" "$@"; }

topo_policy() { # granted|revoked
  local file
  file=$(topo_write_policy "$1")
  topo_portal apply --config "$TOPO_DIR/portal/portal.conf" "$file" >&2
}

topo_portal_start() {
  topo_spawn portal public "$TOPO_BUILD/bin/ember-portal/ember-portal" serve \
    --config "$TOPO_DIR/portal/portal.conf"
  topo_wait 30 topo_tcp_listening public "$TOPO_PORTAL" "$TOPO_PORTAL_PORT" ||
    { topo_log "ember-portal serve did not listen; its log:"; cat "$TOPO_DIR/portal.log" >&2; return 1; }
}
topo_portal_stop() { topo_stop portal; }

topo_relay_start() { # r1|r2
  local var=TOPO_RELAY_$1 range=49152-57343
  [[ $1 == r2 ]] && range=57344-65535
  # Both NAT routers' public side and the other relay are documentation
  # addresses, which a relay refuses as peers unless told otherwise.
  topo_spawn "relay-$1" public "$TOPO_BUILD/plugins/relay/ember-relay/ember-relay" \
    --listen "${!var}:3478" --public-ip4 "${!var}" --port-range "$range" \
    --secret-file "$TOPO_DIR/portal/relay.secret" \
    --allow-peer 198.51.100.0/24 --allow-peer 192.0.2.0/24 --xdp off
  topo_wait 30 topo_udp_bound public "${!var}" 3478 ||
    { topo_log "ember-relay $1 did not bind; its log:"; cat "$TOPO_DIR/relay-$1.log" >&2; return 1; }
}
topo_relay_kill() { # r1|r2: SIGKILL, the way a crashed or unplugged relay goes
  [[ -f $TOPO_DIR/relay-$1.pid ]] || return 0
  kill -9 "$(cat "$TOPO_DIR/relay-$1.pid")" 2>/dev/null
  rm -f "$TOPO_DIR/relay-$1.pid"
}

topo_block_direct() { # on|off
  local t
  t=$(topo_table block)
  topo_exec public nft delete table inet "$t" 2>/dev/null
  [[ $1 == on ]] || return 0
  topo_exec public nft -f - <<EOF
table inet $t {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip saddr $TOPO_NATC_WAN ip daddr $TOPO_NATG_WAN meta l4proto udp counter drop
    ip saddr $TOPO_NATG_WAN ip daddr $TOPO_NATC_WAN meta l4proto udp counter drop
  }
}
EOF
}

topo_natc_ports() { # shift|keep
  local t
  t=$(topo_table ports)
  topo_exec natc nft delete table ip "$t" 2>/dev/null
  [[ $1 == shift ]] || return 0
  # Before masquerade (srcnat - 1): the first NAT chain that binds a
  # connection decides. One port per inside port, so every destination
  # sees the same mapping.
  topo_exec natc nft -f - <<EOF
table ip $t {
  chain postrouting {
    type nat hook postrouting priority srcnat - 1; policy accept;
    oifname "${TOPO_PREFIX}cw" meta l4proto udp snat ip to $TOPO_NATC_WAN : udp sport ^ 0x2000
  }
}
EOF
}

topo_write_emberd_conf() { # client|gateway
  local role=$1 dir=$TOPO_DIR/$1 tun=${TOPO_PREFIX}tun
  [[ $role == client ]] || tun=${TOPO_PREFIX}tgw
  mkdir -p "$dir/state" "$dir/run"
  chmod 700 "$dir/state"
  cat >"$dir/emberd.conf" <<EOF
[daemon]
mode=$role
state-dir=$dir/state
runtime-dir=$dir/run

[portal]
url=ws://$TOPO_PORTAL:$TOPO_PORTAL_PORT
token-file=$dir/token

[tun-linux]
name=$tun
EOF
  if [[ $role == client ]]; then
    local system=none
    [[ -f $TOPO_DIR/dns ]] && system=file
    printf '\n[dns]\nsystem=%s\n' "$system" >>"$dir/emberd.conf"
  fi
}

# /etc/netns/NS/resolv.conf, which `ip netns exec` mounts over the
# namespace's /etc/resolv.conf.
topo_resolv_conf_dir() { echo "/etc/netns/$(topo_ns "$1")"; }

topo_dns_up() {
  local d
  for d in client gateway; do mkdir -p "$(topo_resolv_conf_dir "$d")" || return 1; done
  printf 'nameserver %s\n' "$TOPO_PUBLIC_DNS" >"$(topo_resolv_conf_dir client)/resolv.conf"
  printf 'nameserver %s\n' "$TOPO_LAN_HOST" >"$(topo_resolv_conf_dir gateway)/resolv.conf"
  ip -n "$(topo_ns public)" addr add "$TOPO_PUBLIC_DNS/32" dev lo
  topo_spawn lan-dns lan dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --bind-interfaces --listen-address="$TOPO_LAN_HOST" --user=root \
    --address=/corp.example/"$TOPO_LAN_HOST" --pid-file
  topo_spawn public-dns public dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --bind-interfaces --listen-address="$TOPO_PUBLIC_DNS" --user=root \
    --address=/www.example.net/192.0.2.80 --pid-file
  topo_wait 30 topo_udp_bound lan "$TOPO_LAN_HOST" 53 &&
    topo_wait 30 topo_udp_bound public "$TOPO_PUBLIC_DNS" 53 ||
    { topo_log "dnsmasq did not bind; its logs:"; tail -n 5 "$TOPO_DIR"/*-dns.log >&2; return 1; }
}

topo_emberd_start() { # client|gateway [emberd args...]
  local role=$1 base
  shift
  base=$TOPO_DIR/emberd-$role
  rm -f "$base.pid" "$base.rc"
  # A small shell waits for emberd to record its exit status.
  ip netns exec "$(topo_ns "$role")" bash -c '"$@" & echo $! >"$0.pid"; wait $!; echo $? >"$0.rc"' \
    "$base" "$(topo_emberd)" --config "$TOPO_DIR/$role/emberd.conf" "$@" >"$base.log" 2>&1 </dev/null &
  topo_wait 5 test -s "$base.pid"
}

# Stops emberd (SIGTERM; SIGKILL after 10 s) and prints its exit status,
# "killed", or "none" when it was not running.
topo_emberd_stop() {
  local base=$TOPO_DIR/emberd-$1 pid
  [[ -f $base.pid ]] || { echo none; return 0; }
  pid=$(cat "$base.pid")
  kill -TERM "$pid" 2>/dev/null
  if topo_wait 10 test -s "$base.rc"; then cat "$base.rc"; else kill -9 "$pid" 2>/dev/null; echo killed; fi
  rm -f "$base.pid"
}

topo_status() { topo_exec "$1" "$(topo_emberd)" --status --json --config "$TOPO_DIR/$1/emberd.conf"; }

topo_joined() { topo_status "$1" 2>/dev/null | jq -e '.portal.state == "joined"' >/dev/null; }
topo_wait_joined() { # role [seconds]
  topo_wait "${2:-20}" topo_joined "$1" ||
    { topo_log "emberd $1 did not join the portal; its log:"; tail -n 30 "$TOPO_DIR/emberd-$1.log" >&2; return 1; }
}

topo_counter() { # vault|ssh (what LAN saw) | prohibited (ICMP the client got) -> packets
  local node=lan
  [[ $1 == prohibited ]] && node=client
  topo_exec "$node" nft list counter inet "$(topo_table count)" "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

topo_up() { # [--relayed] [--dns]
  local relayed=0 dns=0 p
  for p in "$@"; do
    case $p in
      --relayed) relayed=1 ;;
      --dns) dns=1 ;;
    esac
  done
  [[ -n ${TOPO_PREFIX:-} && -n ${TOPO_DIR:-} && -n ${TOPO_BUILD:-} ]] ||
    { topo_log "TOPO_PREFIX, TOPO_DIR and TOPO_BUILD must be set"; return 2; }
  ((${#TOPO_PREFIX} <= 8)) || { topo_log "prefix longer than 8 characters"; return 2; }
  for p in "$(topo_emberd)" "$TOPO_BUILD/bin/ember-portal/ember-portal" \
    "$TOPO_BUILD/plugins/relay/ember-relay/ember-relay"; do
    [[ -x $p ]] || { topo_log "$p missing: build first"; return 2; }
  done
  for p in ip nft ss jq iperf3 /usr/bin/python3; do
    command -v "$p" >/dev/null || { topo_log "$p not installed (scripts/deps.sh)"; return 2; }
  done
  for p in "${TOPO_NODES[@]}"; do
    [[ ! -e /run/netns/$(topo_ns "$p") ]] || { topo_log "namespace $(topo_ns "$p") exists: run down first"; return 1; }
  done
  mkdir -p "$TOPO_DIR"
  TOPO_DIR=$(cd "$TOPO_DIR" && pwd)
  TOPO_BUILD=$(cd "$TOPO_BUILD" && pwd)
  printf 'TOPO_PREFIX=%q\nTOPO_BUILD=%q\n' "$TOPO_PREFIX" "$TOPO_BUILD" >"$TOPO_DIR/env"
  if ((dns)); then
    command -v dnsmasq >/dev/null || { topo_log "dnsmasq not installed (scripts/deps.sh)"; return 2; }
    touch "$TOPO_DIR/dns"
  fi

  local P=$TOPO_PREFIX
  for p in "${TOPO_NODES[@]}"; do
    ip netns add "$(topo_ns "$p")" || return 1
    ip -n "$(topo_ns "$p")" link set lo up
  done
  topo_link public "${P}pc" 198.51.100.1/30 natc "${P}cw" "$TOPO_NATC_WAN/30" &&
    topo_link public "${P}pg" 198.51.100.5/30 natg "${P}gw" "$TOPO_NATG_WAN/30" &&
    topo_link natc "${P}cl" 10.1.0.1/24 client "${P}c0" 10.1.0.2/24 &&
    topo_link natg "${P}gl" 10.2.0.1/24 gateway "${P}g0" 10.2.0.2/24 &&
    topo_link gateway "${P}gn" 10.20.0.1/24 lan "${P}l0" "$TOPO_LAN_HOST/24" || return 1
  ip -n "$(topo_ns gateway)" addr add 10.30.0.1/24 dev "${P}gn"
  ip -n "$(topo_ns lan)" addr add "$TOPO_VAULT_HOST/24" dev "${P}l0"
  # The services' addresses live on PUBLIC's loopback (no dummy module
  # needed); the routers reach them through their default routes.
  for a in "$TOPO_PORTAL" "$TOPO_RELAY_r1" "$TOPO_RELAY_r2"; do
    ip -n "$(topo_ns public)" addr add "$a/32" dev lo
  done
  ip -n "$(topo_ns natc)" route add default via 198.51.100.1
  ip -n "$(topo_ns natg)" route add default via 198.51.100.5
  ip -n "$(topo_ns client)" route add default via 10.1.0.1
  ip -n "$(topo_ns gateway)" route add default via 10.2.0.1
  ip -n "$(topo_ns lan)" route add default via 10.20.0.1
  for p in public natc natg; do topo_exec "$p" sysctl -qw net.ipv4.ip_forward=1; done
  topo_router_nft natc "${P}cw" && topo_router_nft natg "${P}gw" || return 1
  ((relayed)) && { topo_block_direct on || return 1; }
  ((dns)) && { topo_dns_up || return 1; }

  # The LAN: web pages on both networks, a listener on tcp/22 that the
  # client's filter must keep it from, iperf3, and counters of what
  # arrives where the client must never get.
  mkdir -p "$TOPO_DIR/lan/www" "$TOPO_DIR/lan/vault"
  echo "ember e2e: the lan resource" >"$TOPO_DIR/lan/www/index.html"
  echo "ember e2e: the vault resource" >"$TOPO_DIR/lan/vault/index.html"
  topo_spawn lan-http lan /usr/bin/python3 -m http.server 80 --bind "$TOPO_LAN_HOST" --directory "$TOPO_DIR/lan/www"
  topo_spawn lan-ssh lan /usr/bin/python3 -m http.server 22 --bind "$TOPO_LAN_HOST" --directory "$TOPO_DIR/lan/www"
  topo_spawn vault-http lan /usr/bin/python3 -m http.server 80 --bind "$TOPO_VAULT_HOST" --directory "$TOPO_DIR/lan/vault"
  topo_spawn lan-iperf3 lan iperf3 -s -B "$TOPO_LAN_HOST"
  topo_exec lan nft -f - <<EOF || return 1
table inet $(topo_table count) {
  counter vault { }
  counter ssh { }
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr $TOPO_VAULT_HOST counter name vault
    tcp dport 22 counter name ssh
  }
}
EOF

  # ICMP "administratively prohibited" (and net/host prohibited) the
  # client receives.
  topo_exec client nft -f - <<EOF || return 1
table inet $(topo_table count) {
  counter prohibited { }
  chain input {
    type filter hook input priority filter; policy accept;
    icmp type destination-unreachable icmp code { net-prohibited, host-prohibited, admin-prohibited } counter name prohibited
  }
}
EOF

  # The portal: configuration, SQLite store, policy, tokens, relays.
  mkdir -p "$TOPO_DIR/portal/state"
  chmod 700 "$TOPO_DIR/portal" "$TOPO_DIR/portal/state"
  head -c 24 /dev/urandom | base64 >"$TOPO_DIR/portal/relay.secret"
  cat >"$TOPO_DIR/portal/portal.conf" <<EOF
[portal]
listen=$TOPO_PORTAL:$TOPO_PORTAL_PORT
state-dir=state
# ws:// off loopback: the namespaces are the only network here.
insecure=true
admin-listen=
# A dead relay is noticed after 2.5 probe intervals.
relay-probe-interval=1

[relay r1]
address=$TOPO_RELAY_r1:3478
secret-file=relay.secret

[relay r2]
address=$TOPO_RELAY_r2:3478
secret-file=relay.secret
EOF
  topo_policy granted || return 1
  topo_write_emberd_conf client
  topo_write_emberd_conf gateway
  topo_portal token create --config "$TOPO_DIR/portal/portal.conf" client laptop | tail -n 1 >"$TOPO_DIR/client/token" &&
    topo_portal token create --config "$TOPO_DIR/portal/portal.conf" gateway gw1 --site home | tail -n 1 >"$TOPO_DIR/gateway/token" ||
    return 1
  chmod 600 "$TOPO_DIR/client/token" "$TOPO_DIR/gateway/token"
  topo_relay_start r1 && topo_relay_start r2 && topo_portal_start || return 1
  topo_wait 30 topo_tcp_listening lan "$TOPO_LAN_HOST" 80 &&
    topo_wait 30 topo_tcp_listening lan "$TOPO_LAN_HOST" 22 &&
    topo_wait 30 topo_tcp_listening lan "$TOPO_VAULT_HOST" 80 &&
    topo_wait 30 topo_tcp_listening lan "$TOPO_LAN_HOST" 5201 ||
    { topo_log "the LAN's servers did not listen; their logs:"; tail -n 5 "$TOPO_DIR"/lan-*.log "$TOPO_DIR"/vault-http.log >&2; return 1; }
}

# Everything of this topology that still exists, one line each; nothing
# when it is gone.
topo_leftovers() {
  local p
  for p in "${TOPO_NODES[@]}"; do
    [[ -e /run/netns/$(topo_ns "$p") ]] && echo "namespace $(topo_ns "$p")"
  done
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${TOPO_PREFIX}" | sed 's/^/interface /'
  nft list tables 2>/dev/null | awk '{print $3}' | grep "^$(topo_table '')" | sed 's/^/nftables table /'
  if [[ -n ${TOPO_DIR:-} ]]; then
    local cmd
    for p in /proc/[0-9]*; do
      cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)
      [[ $cmd == *"$TOPO_DIR/"* ]] && echo "process ${p#/proc/}: $cmd"
    done
    [[ -e $TOPO_DIR ]] && echo "directory $TOPO_DIR"
  fi
  for p in client gateway; do
    [[ -e $(topo_resolv_conf_dir "$p") ]] && echo "directory $(topo_resolv_conf_dir "$p")"
  done
  return 0
}

topo_down() {
  local p pid ns
  [[ -n ${TOPO_PREFIX:-} ]] || { topo_log "TOPO_PREFIX must be set"; return 2; }
  # Everything this topology started runs inside one of its namespaces
  # (and a namespace with a process in it outlives `ip netns del`), so
  # the namespaces' own process lists say what to stop; a pid file may
  # be stale and name someone else's process by now.
  for p in "${TOPO_NODES[@]}"; do
    ns=$(topo_ns "$p")
    [[ -e /run/netns/$ns ]] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  done
  for _ in $(seq 50); do
    local alive=0
    for p in "${TOPO_NODES[@]}"; do
      ns=$(topo_ns "$p")
      [[ -e /run/netns/$ns && -n $(ip netns pids "$ns" 2>/dev/null) ]] && alive=1
    done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${TOPO_NODES[@]}"; do
    ns=$(topo_ns "$p")
    [[ -e /run/netns/$ns ]] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  for p in client gateway; do rm -rf "$(topo_resolv_conf_dir "$p")"; done
  [[ -n ${TOPO_DIR:-} ]] && rm -rf "$TOPO_DIR"
  return 0
}

topo_main() {
  local cmd
  TOPO_DIR='' TOPO_PREFIX=${TOPO_PREFIX:-} TOPO_BUILD=${TOPO_BUILD:-}
  while [[ $# -gt 0 ]]; do
    case $1 in
      --dir) TOPO_DIR=$2; shift 2 ;;
      --prefix) TOPO_PREFIX=$2; shift 2 ;;
      --build) TOPO_BUILD=$2; shift 2 ;;
      *) break ;;
    esac
  done
  [[ -n $TOPO_DIR ]] || { echo "usage: topology.sh --dir DIR COMMAND ... (see the header)" >&2; return 2; }
  cmd=${1:-}
  shift || true
  while [[ $# -gt 0 && $cmd == up ]]; do
    case $1 in
      --prefix) TOPO_PREFIX=$2; shift 2 ;;
      --build) TOPO_BUILD=$2; shift 2 ;;
      *) break ;;
    esac
  done
  # shellcheck disable=SC1091
  [[ $cmd != up && -f $TOPO_DIR/env ]] && . "$TOPO_DIR/env"
  case $cmd in
    up)
      topo_up "$@" && return 0
      topo_log "up failed; removing what it made"
      topo_down
      return 1 ;;
    down) topo_down ;;
    leftovers) topo_leftovers ;;
    emberd-start) topo_emberd_start "$@" ;;
    emberd-stop) topo_emberd_stop "$@" ;;
    status) topo_status "$@" ;;
    wait-joined) topo_wait_joined "$@" ;;
    block-direct) topo_block_direct "$@" ;;
    natc-ports) topo_natc_ports "$@" ;;
    portal-stop) topo_portal_stop ;;
    portal-start) topo_portal_start ;;
    relay-kill) topo_relay_kill "$@" ;;
    relay-start) topo_relay_start "$@" ;;
    policy) topo_policy "$@" ;;
    counter) topo_counter "$@" ;;
    exec) topo_exec "$@" ;;
    *) echo "topology.sh: unknown command '$cmd' (see the header)" >&2; return 2 ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  topo_main "$@"
  exit $?
fi
