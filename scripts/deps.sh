#!/usr/bin/env bash
# Installs every Debian package that building, testing, fuzzing and
# benchmarking Ember needs. Idempotent: does nothing when all are present.
# `deps.sh demo` leaves out what only the tests, the fuzzers, the Windows
# build and the reference peers need, so that scripts/demo.sh is quick on
# a fresh machine.
set -euo pipefail

packages=(
  # build
  gcc meson ninja-build pkg-config
  libglib2.0-dev libgnutls28-dev nettle-dev libsoup-3.0-dev libssl-dev
  libjson-glib-dev
  libsqlite3-dev  # ember-portal's store (bin/ember-portal/store-sqlite.c)
  glib-networking  # GIO's TLS: the portal session's wss:// (core/portal/upgrade.c)
  libnftables-dev nftables  # emberd's gateway NAT (bin/emberd/gateway-nat.c); nft checks it in tests
  libsystemd-dev  # emberd: sd_notify READY/STATUS (bin/emberd/daemon.c)
  # fuzzing and sanitizers
  clang libclang-rt-14-dev
  # ember-relay's XDP fast path: BPF object (clang), skeleton (bpftool), loader
  # (libbpf); ethtool readies veth ends for XDP_REDIRECT in its tests
  libbpf-dev bpftool ethtool
  # network tests and reference peers
  iproute2 iputils-ping procps kmod
  wireguard-go wireguard-tools iperf3 tshark coturn
  # the end-to-end topology (scripts/lib/topology.sh): NAT routers, and curl
  # fetching through the tunnel in the demo, tests/e2e and bench/e2e.sh
  nftables curl
  # the DNS stub's interop test (tests/dns): dig through the stub to unbound;
  # dnsmasq for tests/dns/captures/capture.sh and, with dnsperf, bench/dns.sh
  unbound bind9-dnsutils dnsmasq-base dnsperf
  # the DNS upstream plugins and system DNS control (tests/dns; unbound and
  # dnsmasq-base above): certificates (certtool), GIO's TLS backend, a private
  # bus and python-dbusmock standing in for systemd-resolved
  gnutls-bin glib-networking dbus-daemon python3-dbusmock
  # test tooling
  jq python3 ca-certificates
  # Windows cross build of tun-wintun and its Wine tests (scripts/build-windows.sh):
  # MinGW-w64 and its zlib (GLib requires it), wine64, and dpkg-dev + make to
  # build GLib from Debian's sources
  gcc-mingw-w64-x86-64 libz-mingw-w64-dev wine64 dpkg-dev make
  # man pages (scdoc); Debian packages built and checked by tests/package
  # (debhelper, fakeroot, lintian; systemd-analyze and xmllint check the
  # units and the D-Bus/polkit files, dbus-daemon loads the bus policy)
  scdoc debhelper fakeroot lintian systemd libxml2-utils dbus-daemon
  libnftables-dev libsystemd-dev  # in debian/control's Build-Depends (emberd's NAT, sd_notify)
  # emberd's D-Bus API checks polkit per call (bin/emberd/dbus-api.c); tests/dbus runs a
  # private dbus-daemon with python-dbusmock's polkitd template
  libpolkit-gobject-1-dev dbus-daemon python3-dbusmock
  # the desktop client (bin/ember-gtk) and its tests (tests/gtk): GTK 4 and
  # libadwaita, desktop-file-validate and appstreamcli, and Xvfb, AT-SPI
  # (pyatspi), xwininfo and ImageMagick's import for the screenshots
  libgtk-4-dev libadwaita-1-dev desktop-file-utils appstream
  xvfb x11-utils imagemagick at-spi2-core python3-pyatspi gir1.2-atspi-2.0 python3-dbus
)

# dnsmasq-base stays in the demo too: the LAN's and the public network's
# name servers of `topology.sh up --dns` (the page fetched by name).
test_only=(libclang-rt-14-dev wireguard-go tshark coturn unbound bind9-dnsutils dnsperf
  gnutls-bin python3-dbusmock
  gcc-mingw-w64-x86-64 libz-mingw-w64-dev wine64 dpkg-dev make
  debhelper fakeroot lintian libxml2-utils
  libgtk-4-dev libadwaita-1-dev desktop-file-utils appstream
  xvfb x11-utils imagemagick at-spi2-core python3-pyatspi gir1.2-atspi-2.0 python3-dbus)
if [[ ${1:-} == demo ]]; then
  keep=()
  for p in "${packages[@]}"; do
    [[ " ${test_only[*]} " == *" $p "* ]] || keep+=("$p")
  done
  packages=("${keep[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
