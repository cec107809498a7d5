#!/usr/bin/env bash
# Installs Ember into a temporary prefix, builds a plugin out of tree with
# nothing but `pkg-config --cflags ember-plugin`, and checks that emberd
# loads it, and refuses one built for another ABI major naming both
# versions and the file; its pluginsdir variable names the directory of
# the installed plugins.
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# installing into a staging directory"
meson install -C "$build" --no-rebuild --destdir "$tmp/stage" --quiet >/dev/null
pc=$(find "$tmp/stage" -name ember-plugin.pc | head -n1)
[[ -n $pc ]] || { echo "not ok - ember-plugin.pc was not installed"; exit 1; }
# The staged tree is relocated: its .pc names the staged prefix.
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$tmp/stage$prefix|" "$pc" > "$tmp/pc/ember-plugin.pc"
export PKG_CONFIG_PATH="$tmp/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

cflags=$(pkg-config --cflags ember-plugin)
case $cflags in *"$tmp/stage"*) ;; *) echo "not ok - cflags do not point into the install: $cflags"; exit 1;; esac
echo "# cflags: $cflags"

# pluginsdir is where a plugin installs itself: the directory that holds
# Ember's own plugins.
pluginsdir=$(pkg-config --variable=pluginsdir ember-plugin)
echo "# pluginsdir: $pluginsdir"
pluginsdir_ok=0
[[ -f $pluginsdir/tun-linux.so && $pluginsdir == "$tmp/stage"* ]] && pluginsdir_ok=1

mkdir -p "$tmp/plugins"
# shellcheck disable=SC2086
cc -shared -fPIC $cflags "$src/oot-plugin.c" -o "$tmp/plugins/oot.so"
# shellcheck disable=SC2086
cc -shared -fPIC $cflags -DOOT_ABI_MAJOR=2 "$src/oot-plugin.c" -o "$tmp/plugins/oot-abi2.so"

set +e
out=$(EMBER_PLUGIN_PATH="$tmp/plugins" "$build/bin/emberd/emberd" --list-plugins 2>&1)
rc=$?
set -e
echo "$out" | sed 's/^/# /'
host_abi=$("$build/bin/emberd/emberd" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
fail=0
grep -Eq "^oot-null +dns +1\.0 +$tmp/plugins/oot.so" <<<"$out" \
  && echo "ok 1 - out-of-tree plugin loads" || { echo "not ok 1 - out-of-tree plugin not listed"; fail=1; }
grep -q "refused: $tmp/plugins/oot-abi2.so: plugin \"oot-null\" was built for plugin ABI 2.0, this host has ABI $host_abi" <<<"$out" \
  && echo "ok 2 - other ABI major refused naming file and both versions" || { echo "not ok 2 - ABI 2 plugin not refused as expected"; fail=1; }
[[ $rc -ne 0 ]] && echo "ok 3 - refusal gives a non-zero exit" || { echo "not ok 3 - exit code $rc"; fail=1; }
((pluginsdir_ok)) && echo "ok 4 - pluginsdir names the installed plugin directory" \
  || { echo "not ok 4 - pluginsdir $pluginsdir does not hold the installed tun-linux.so"; fail=1; }
echo "1..4"
exit $fail
