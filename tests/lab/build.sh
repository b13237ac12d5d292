#!/usr/bin/env bash
# Configures (or reconfigures) and builds.
# Usage: tests/lab/build.sh [build|build-asan|DIR]
#   build       default release-ish build (debugoptimized)
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer build
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:-build}
opts=()
case "$dir" in
  *asan*|*san*) opts+=(-Db_sanitize=address,undefined -Db_lundef=false) ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
if [[ -f "$dir/build.ninja" ]]; then
  meson setup --reconfigure "$dir" "${opts[@]}"
else
  rm -rf "$dir"
  meson setup "$dir" "${opts[@]}"
fi
ninja -C "$dir" -j "$jobs"
