#!/usr/bin/env bash
# The main job: builds Ember from this checkout and runs it.
# Today that is emberd listing the plugins it finds in the build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [[ -f build/build.ninja ]]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build
build/bin/emberd --version
build/bin/emberd --list-plugins
