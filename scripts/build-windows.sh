#!/usr/bin/env bash
# Cross-builds the Windows TUN plugin (plugins/tun-wintun) with Debian's
# MinGW-w64 toolchain and runs its tests under Wine:
#
#   1. GLib and what it needs (libffi, PCRE2; zlib comes from Debian's
#      libz-mingw-w64-dev) from Debian's own source packages, fetched with
#      `apt-get source` through a private apt configuration that adds
#      deb-src entries for the archives this machine already uses. The
#      system's apt sources are not touched. Smallest option set: static
#      libffi and PCRE2 (8-bit, no JIT) inside the GLib DLLs, no NLS (a
#      translation-free libintl, scripts/windows/intl), and only the
#      glib and gmodule DLLs are built.
#   2. Ember's Windows subset (meson.build, the `windows` block): the
#      loader, ember-net, tun-wintun.dll, the stand-in wintun.dll and IP
#      Helper DLL, and the test programs.
#   3. `meson test --suite wine` under wine64 in a throw-away WINEPREFIX.
#
# Usage: scripts/build-windows.sh [BUILD_DIR]   (default: build-windows)
# The dependencies are cached in BUILD_DIR/deps, or in $EMBER_WINDOWS_DEPS
# (scripts/test.sh uses ~/.cache/ember/windows-deps so a fresh clone on
# the same machine reuses them), and rebuilt only when this script, the
# cross file, the intl stand-in or a Debian source version changes. Exits non-zero when a step or a test
# fails. Needs the packages scripts/deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$(realpath -m "${1:-$root/build-windows}")
deps=$(realpath -m "${EMBER_WINDOWS_DEPS:-$out/deps}")
host=x86_64-w64-mingw32
# The cross file's compiler (win32 threads), for the autotools builds too
# (only there: in a meson cross build CC names the build machine's).
cc_win=$host-gcc-win32
cross=$root/scripts/windows/$host.ini
jobs=${EMBER_JOBS:-2}
wine=/usr/lib/wine/wine64

start=$SECONDS
step() { printf '=== windows: %s (%ds)\n' "$*" $((SECONDS - start)); }
fail() { echo "build-windows: $*" >&2; exit 1; }

for tool in $cc_win $wine dpkg-source make apt-get meson ninja pkg-config; do
  command -v "$tool" >/dev/null || fail "$tool is missing; run scripts/deps.sh as root"
done

src=$deps/src
prefix=$deps/prefix
mkdir -p "$src" "$prefix/include" "$prefix/lib"
# The cache may be shared by several checkouts (scripts/test.sh keeps it
# in the user's cache folder): one run at a time uses it.
exec 9>"$deps/lock"
flock 9

# ---- 1. Debian sources ---------------------------------------------------

# A private apt setup: the same archives and suites as the system's own
# binary entries, as deb-src. Its lists live in the cache.
apt_dir=$deps/apt
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/none"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Sandbox::User=root"
)
apt_ready=false
apt_prepare() {
  $apt_ready && return
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/none"
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' |
    awk '$3 == "deb" && $1 ~ /debian/ { print "deb-src " $1 " " $2 " main" }' |
    sort -u >"$apt_dir/sources.list"
  [[ -s $apt_dir/sources.list ]] || fail "no Debian archive among the apt sources"
  apt-get "${apt_opts[@]}" -qq update
  apt_ready=true
}

# The newest version of a source package the archives offer.
source_version() {
  apt-cache "${apt_opts[@]}" showsrc "$1" 2>/dev/null |
    awk '/^Version:/ { print $2 }' | sort -V | tail -1
}

# Unpacks source package $1 (Debian patches applied) into $src/$1 and
# prints its version. Downloads only when that version is not there yet.
fetch() {
  local pkg=$1 version dsc
  apt_prepare
  version=$(source_version "$pkg")
  [[ -n $version ]] || fail "apt-get source: no source package $pkg"
  if [[ ! -f $src/$pkg.version || $(cat "$src/$pkg.version") != "$version" ]]; then
    rm -rf "${src:?}/$pkg" "$src/$pkg".dl
    mkdir -p "$src/$pkg.dl"
    (cd "$src/$pkg.dl" && apt-get "${apt_opts[@]}" -qq source --download-only "$pkg=$version" ||
       apt-get "${apt_opts[@]}" -qq source --download-only "$pkg/$(. /etc/os-release; echo "$VERSION_CODENAME")") >&2
    dsc=$(ls "$src/$pkg.dl"/*.dsc | head -1)
    # apt checked the files against the signed Release file; no keyring
    # for the .dsc signature is needed.
    dpkg-source --no-check -x "$dsc" "$src/$pkg" >/dev/null
    rm -rf "$src/$pkg.dl"
    echo "$version" >"$src/$pkg.version"
  fi
  cat "$src/$pkg.version"
}

# What the cached dependencies were built from; a change rebuilds them.
recipe=$(cat "$0" "$cross" scripts/windows/intl/* | sha256sum | cut -c1-16)
stamp=$deps/built

deps_current() {
  [[ -f $stamp ]] || return 1
  local want
  want="$recipe $(cat "$src"/{libffi,pcre2,glib2.0}.version 2>/dev/null | tr '\n' ' ')"
  [[ $(cat "$stamp") == "$want" ]]
}

build_deps() {
  step "fetching libffi, pcre2 and glib2.0 with apt-get source"
  apt_prepare
  local v_ffi v_pcre v_glib
  v_ffi=$(fetch libffi)
  v_pcre=$(fetch pcre2)
  v_glib=$(fetch glib2.0)
  if deps_current; then
    step "dependencies cached in $deps (glib2.0 $v_glib)"
    return
  fi
  rm -rf "$prefix" "$deps/build"
  mkdir -p "$prefix/include" "$prefix/lib" "$deps/build"

  step "libffi $v_ffi"
  mkdir -p "$deps/build/libffi"
  (cd "$deps/build/libffi" &&
     "$src/libffi/configure" --host=$host CC="$cc_win" --prefix="$prefix" --disable-shared --enable-static \
       --disable-docs --disable-multi-os-directory --disable-exec-static-tramp >config.out &&
     make -j"$jobs" >make.out && make install >install.out) ||
    fail "libffi failed: see $deps/build/libffi/*.out"

  step "pcre2 $v_pcre (8-bit library only)"
  mkdir -p "$deps/build/pcre2"
  (cd "$deps/build/pcre2" &&
     "$src/pcre2/configure" --host=$host CC="$cc_win" --prefix="$prefix" --disable-shared --enable-static \
       --disable-jit --disable-pcre2grep-jit --disable-pcre2grep-libz --disable-pcre2grep-libbz2 \
       >config.out &&
     make -j"$jobs" libpcre2-8.la >make.out &&
     make install-libLTLIBRARIES install-nodist_includeHEADERS install-pkgconfigDATA \
       >install.out) ||
    fail "pcre2 failed: see $deps/build/pcre2/*.out"

  step "libintl without catalogues"
  $cc_win -O2 -Wall -Wextra -Werror -c scripts/windows/intl/intl.c -o "$deps/build/intl.o"
  $host-ar rcs "$prefix/lib/libintl.a" "$deps/build/intl.o"
  cp scripts/windows/intl/libintl.h "$prefix/include/"

  step "glib $v_glib (glib and gmodule DLLs)"
  # GLib's configure cannot run test programs when cross-building; these
  # are the answers for MinGW-w64's C library.
  cat >"$deps/glib.ini" <<EOF
[properties]
pkg_config_libdir = ['$prefix/lib/pkgconfig', '/usr/$host/lib/pkgconfig']
growing_stack = false
have_c99_vsnprintf = false
have_c99_snprintf = false
have_unix98_printf = false
[built-in options]
c_args = ['-I$prefix/include', '-DPCRE2_STATIC']
c_link_args = ['-L$prefix/lib']
EOF
  meson setup "$deps/build/glib" "$src/glib2.0" --cross-file "$cross" \
    --cross-file "$deps/glib.ini" --prefix "$prefix" --buildtype release \
    --default-library shared --wrap-mode nodownload \
    -Dtests=false -Dnls=disabled -Dglib_debug=disabled -Dman=false -Dgtk_doc=false \
    -Dxattr=false -Dlibmount=disabled -Dselinux=disabled -Dlibelf=disabled \
    -Dsysprof=disabled >"$deps/build/glib-setup.out" ||
    fail "glib configure failed: see $deps/build/glib-setup.out"
  ninja -C "$deps/build/glib" -j"$jobs" glib/libglib-2.0-0.dll gmodule/libgmodule-2.0-0.dll \
    >"$deps/build/glib-build.out" || fail "glib build failed: see $deps/build/glib-build.out"

  echo "$recipe $v_ffi $v_pcre $v_glib " >"$stamp"
}

build_deps
glib_build=$deps/build/glib

# ---- 2. Ember's Windows subset -------------------------------------------

step "ember (tun-wintun, loader, stand-ins, tests) into $out"
mkdir -p "$out"
# GLib is used from its build tree through its uninstalled pkg-config
# files; tests run through wine64.
cat >"$out/windows-deps.ini" <<EOF
[binaries]
exe_wrapper = '$wine'
[properties]
pkg_config_libdir = ['$glib_build/meson-uninstalled', '$prefix/lib/pkgconfig', '/usr/$host/lib/pkgconfig']
[built-in options]
c_link_args = ['-L$prefix/lib']
EOF
if [[ -f $out/build.ninja ]]; then
  meson setup --reconfigure "$out" --cross-file "$cross" --cross-file "$out/windows-deps.ini" \
    >"$out/setup.out" || { cat "$out/setup.out"; fail "meson setup failed"; }
else
  meson setup "$out" --cross-file "$cross" --cross-file "$out/windows-deps.ini" \
    >"$out/setup.out" || { cat "$out/setup.out"; fail "meson setup failed"; }
fi
ninja -C "$out" -j"$jobs"

# ---- 3. Tests under Wine -------------------------------------------------

step "tests under wine64"
winepfx=$(mktemp -d "${TMPDIR:-/tmp}/ember-wine.XXXXXX")
cleanup() {
  WINEPREFIX=$winepfx /usr/lib/wine/wineserver -k 2>/dev/null || true
  rm -rf "$winepfx"
}
trap cleanup EXIT
export WINEPREFIX=$winepfx WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY
# The GLib DLLs from their build tree; Wine maps / to Z:.
export WINEPATH="Z:$glib_build/glib;Z:$glib_build/gmodule"
# A first start creates the prefix; do it outside the timed tests.
"$wine" cmd /c exit >/dev/null 2>&1 || true
status=0
meson test -C "$out" --suite wine --print-errorlogs --num-processes 1 || status=$?
step "done (exit $status)"
exit $status
