#!/usr/bin/env bash
# Builds Ember's Debian packages from a copy of the source tree
# (dpkg-buildpackage -b writes next to the tree, so the copy lives in a
# temporary directory), then checks them:
#   - lintian reports no error (its tags are printed);
#   - each package's file list (dpkg -c) holds its units, sysusers.d,
#     D-Bus and polkit files, plugins and man pages;
#   - the units pass systemd-analyze verify against the unpacked
#     packages, and systemd-analyze security --offline prints each unit's
#     exposure; it fails above EXPOSURE_MAX.
# EXPOSURE_MAX is 2.0 (systemd-analyze's --threshold scale is ten times
# that): the top of the band systemd calls "OK". The units score 1.1 to
# 1.8 today; what is left is what the programs need (CAP_NET_ADMIN and
# CAP_BPF, network access, /dev/net/tun), so a change that grants more
# (a capability, a writable /usr, no system-call filter) crosses it.
# DEB_BUILD_OPTIONS=nocheck: the suites run in scripts/test.sh anyway;
# noautodbgsym: the -dbgsym packages are not what is checked.
# Argument: the source tree.
set -euo pipefail
src=$(cd "$1" && pwd)
EXPOSURE_MAX=20

for tool in dpkg-buildpackage dh lintian fakeroot scdoc systemd-analyze xmllint gdbus-codegen git; do
  if ! command -v "$tool" >/dev/null; then
    echo "1..0 # SKIP $tool is missing (scripts/deps.sh installs it)"
    exit 77
  fi
done
if ! (cd "$src" && dpkg-checkbuilddeps) 2>/dev/null; then
  echo "1..0 # SKIP build dependencies missing: $(cd "$src" && dpkg-checkbuilddeps 2>&1 | sed 's/.*: //')"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

# The tree as git sees it (tracked and new files, not the build dirs).
tree=$tmp/ember
mkdir -p "$tree"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$tree" 2>/dev/null || true)
# ls-files lists files deleted from the worktree but not from the index;
# cp skipped those.

start=$SECONDS
TIMEFORMAT='%U %S'
if { time (cd "$tree" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" \
      dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1); } 2>"$tmp/time"; then
  read -r user sys <"$tmp/time"
  ok "dpkg-buildpackage -b built the packages in $((SECONDS - start)) s ($user s user, $sys s system CPU)"
  grep -E 'dpkg-shlibdeps: warning|dh_missing: (warning|error)|dpkg-gencontrol: warning' "$tmp/build.log" | sed 's/^/# /' || true
else
  tail -n 40 "$tmp/build.log" | sed 's/^/# /'
  not_ok "dpkg-buildpackage -b failed"
  echo "1..$n"
  exit 1
fi
changes=$(ls "$tmp"/*.changes)
ls "$tmp"/*.deb | sed 's|.*/|# built: |'

# lintian: every tag printed; errors fail.
# lintian leaves temporary directories behind: they go with $tmp.
TMPDIR=$tmp lintian --tag-display-limit 0 --display-info "$changes" >"$tmp/lintian.log" 2>&1 || true
sed 's/^/# lintian: /' "$tmp/lintian.log"
errors=$(grep -c '^E: ' "$tmp/lintian.log" || true)
warnings=$(grep -c '^W: ' "$tmp/lintian.log" || true)
if ((errors == 0)); then
  ok "lintian: 0 errors, $warnings warnings"
else
  not_ok "lintian: $errors errors, $warnings warnings"
fi

# The file list of each package.
deb() { ls "$tmp"/"$1"_*.deb; }
expect() {
  local pkg=$1
  shift
  local list missing=()
  list=$(dpkg -c "$(deb "$pkg")" | awk '{print $6}' | sed 's|^\./|/|')
  for path in "$@"; do
    grep -Eq "^$path\$" <<<"$list" || missing+=("$path")
  done
  if ((${#missing[@]} == 0)); then
    ok "$pkg holds $*"
  else
    not_ok "$pkg lacks ${missing[*]}"
  fi
}
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
expect emberd /usr/bin/emberd /lib/systemd/system/emberd.service \
  /usr/lib/sysusers.d/emberd.conf \
  /usr/share/dbus-1/system.d/org.ember.Ember1.conf \
  /usr/share/dbus-1/system-services/org.ember.Ember1.service \
  /usr/share/dbus-1/interfaces/org.ember.Ember1.xml \
  /usr/share/polkit-1/actions/org.ember.Ember1.policy \
  "/usr/lib/$triplet/ember/plugins/(tun-linux|wg|turn).so" \
  /usr/share/man/man8/emberd.8.gz /usr/share/man/man5/emberd.conf.5.gz \
  /etc/ember/emberd.conf
expect emberctl /usr/bin/emberctl /usr/share/man/man1/emberctl.1.gz
expect libember-core "/usr/lib/$triplet/ember/libember-core.so.0"
expect ember-relay /usr/bin/ember-relay /lib/systemd/system/ember-relay.service \
  /usr/share/man/man8/ember-relay.8.gz /etc/default/ember-relay
expect ember-portal /usr/bin/ember-portal /lib/systemd/system/ember-portal.service \
  /usr/lib/sysusers.d/ember-portal.conf /usr/share/man/man8/ember-portal.8.gz \
  /etc/ember/portal.conf
expect ember-plugin-dev /usr/include/ember-1/ember-plugin.h \
  "/usr/lib/$triplet/pkgconfig/ember-plugin.pc"
expect ember-doc /usr/share/doc/ember-doc/portal-protocol.md.gz
expect ember-gtk /usr/bin/ember-gtk /usr/share/applications/org.ember.Client.desktop \
  /usr/share/metainfo/org.ember.Client.metainfo.xml \
  /usr/share/icons/hicolor/scalable/apps/org.ember.Client.svg /usr/share/man/man1/ember-gtk.1.gz

root=$tmp/root
for d in "$tmp"/*.deb; do dpkg -x "$d" "$root"; done

# The installed programs find their private library (RUNPATH).
if out=$(LD_LIBRARY_PATH="$root/usr/lib/$triplet/ember" "$root/usr/bin/emberd" --version 2>&1) &&
   readelf -d "$root/usr/bin/ember-relay" | grep -q "RUNPATH.*/usr/lib/$triplet/ember"; then
  ok "installed emberd runs ($out) and ember-relay's RUNPATH names the private library"
else
  not_ok "installed programs: $out"
fi

# The D-Bus and polkit files.
if xmllint --noout "$root/usr/share/dbus-1/system.d/org.ember.Ember1.conf" &&
   xmllint --noout --dtdvalid /usr/share/polkit-1/policyconfig-1.dtd \
     "$root/usr/share/polkit-1/actions/org.ember.Ember1.policy" 2>/dev/null &&
   (cd "$tmp" && gdbus-codegen --generate-c-code ember-dbus \
     "$root/usr/share/dbus-1/interfaces/org.ember.Ember1.xml") &&
   grep -q '^SystemdService=emberd.service$' \
     "$root/usr/share/dbus-1/system-services/org.ember.Ember1.service"; then
  ok "bus policy is well-formed, polkit policy valid, API XML binds with gdbus-codegen, activation goes through systemd"
else
  not_ok "D-Bus or polkit files are invalid"
fi

# The users: sysusers.d creates the ones the units run as, and the bus
# policy lets emberd's own org.ember.Ember1.
users=$(systemd-sysusers --root="$root" --dry-run 2>&1 | sed -n "s/^Creating user '\([^']*\)'.*/\1/p" | sort | tr '\n' ' ')
emberd_user=$(sed -n 's/^User=//p' "$root/lib/systemd/system/emberd.service")
portal_user=$(sed -n 's/^User=//p' "$root/lib/systemd/system/ember-portal.service")
if [[ $users == "ember ember-portal " && $emberd_user == ember && $portal_user == ember-portal ]] &&
   grep -q "<policy user=\"$emberd_user\">" "$root/usr/share/dbus-1/system.d/org.ember.Ember1.conf"; then
  ok "sysusers.d creates $users(the units' users; the bus policy lets $emberd_user own the name)"
else
  not_ok "users: sysusers.d creates '$users', emberd runs as '$emberd_user', ember-portal as '$portal_user'"
fi

# dbus-daemon loads the bus policy without an error (it would skip a bad
# file and start anyway, so its messages are read). The user "ember" does
# not exist before the package's sysusers.d file runs: that warning is
# expected here.
mkdir -p "$tmp/bus"
cat >"$tmp/bus/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
  "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/><deny own="*"/></policy>
  <includedir>$root/usr/share/dbus-1/system.d</includedir>
</busconfig>
EOF
if command -v dbus-daemon >/dev/null; then
  if dbus-daemon --config-file="$tmp/bus/bus.conf" --fork --print-pid >"$tmp/bus/pid" 2>"$tmp/bus/log"; then
    kill "$(cat "$tmp/bus/pid")" 2>/dev/null || true
  fi
  if [[ -s $tmp/bus/pid ]] && ! grep -v 'Unknown username "ember"' "$tmp/bus/log" | grep -q .; then
    ok "dbus-daemon loads the bus policy"
  else
    sed 's/^/# /' "$tmp/bus/log"
    not_ok "dbus-daemon refuses the bus policy"
  fi
fi

# The units, with their programs and man pages taken from the unpacked tree.
mkdir -p "$tmp/units"
for unit in emberd ember-relay ember-portal; do
  sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" \
    "$root/lib/systemd/system/$unit.service" >"$tmp/units/$unit.service"
done
if out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$tmp"/units/*.service 2>&1); then
  ok "systemd-analyze verify accepts the three units"
else
  echo "$out" | sed 's/^/# /'
  not_ok "systemd-analyze verify"
fi
for unit in emberd ember-relay ember-portal; do
  set +e
  out=$(systemd-analyze security --offline=true --threshold=$EXPOSURE_MAX \
    "$tmp/units/$unit.service" 2>&1)
  rc=$?
  set -e
  score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
  if ((rc == 0)) && [[ -n $score ]]; then
    ok "$unit.service exposure $score (at most $((EXPOSURE_MAX / 10)).$((EXPOSURE_MAX % 10)))"
  else
    grep '✗' <<<"$out" | sed 's/^/# /'
    not_ok "$unit.service exposure ${score:-?} (at most $((EXPOSURE_MAX / 10)).$((EXPOSURE_MAX % 10)))"
  fi
done

echo "1..$n"
exit $fail
