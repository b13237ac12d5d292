#!/usr/bin/env bash
# Configures (or reconfigures) and builds.
# Usage: tests/lab/build.sh [build|build-asan|build-tsan|DIR] [TARGET...]
#   TARGET      ninja targets to build (e.g. dataplane/sluice-dp); default all;
#               "unit-tests": only the unit test executables (tests/unit/*/test_*),
#               what the sanitizer builds run (their programs and benchmarks
#               would be compiled for nothing)
#   build       default release-ish build (debugoptimized)
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer build (any DIR
#               with "san" in its name, other than "tsan")
#   build-tsan  ThreadSanitizer build (any DIR with "tsan" in its name)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:-build}
targets=("${@:2}")
opts=()
# The sanitizer builds compile with -g1 (line tables and function names:
# what a report's stack needs, without the full debug info), ASan/UBSan at
# -O0 and TSan at -O1. On this template-heavy code (JSON, CLI11, gtest) the
# ASan/UBSan build of the unit tests took 689 s at -O1 and the whole CI run
# 33 minutes, over its 30; its tests ran 71 s, so a slower -O0 run costs far
# less than the compile saves. TSan's tests (90 s at -O1) would lose at -O0
# what its smaller build saves. The plain build keeps -O2 (the functional
# tests and the benchmarks run it) with -g1 for the same reason.
# Both sanitizer builds are unity builds (meson -Dunity=on: four sources a
# translation unit, so gtest, nlohmann/json and DPDK's headers are parsed a
# quarter as often): with the RDMA tests the CI run had reached 29.5 of its
# 30 minutes, 431 s of it the ASan/UBSan build and 267 s the TSan one.
case "$dir" in
  *tsan*)
    # Every target of the project is instrumented (static libraries included);
    # DPDK's shared libraries and libgtest are not, which TSan tolerates.
    # RTE_USE_C11_MEM_MODEL: rte_ring's enqueue/dequeue are inline, so they are
    # compiled (and instrumented) into our code. On x86 DPDK picks its
    # "generic" ring variant, which synchronises through volatile accesses and
    # compiler barriers (correct on x86's ordering, invisible to TSan): every
    # worker-to-agent ring handover would be reported as a race. The C11
    # variant is the same algorithm on the same ring layout with
    # __atomic acquire/release, which TSan understands, and DPDK supports it
    # on x86 (it is the default on Arm). Only this build uses it.
    opts+=(-Db_sanitize=thread -Db_lundef=false "-Dcpp_args=-DRTE_USE_C11_MEM_MODEL -g1" -Doptimization=1 -Dunity=on) ;;
  *asan*|*san*)
    # shellcheck disable=SC2054  # one option whose value is a comma list
    opts+=(-Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-g1 -Doptimization=0 -Dunity=on) ;;
  build)
    opts+=(-Dcpp_args=-g1) ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
if [[ -f "$dir/build.ninja" ]]; then
  # Meson 1.0 (Debian 12) ignores -D of compiler options such as cpp_args in
  # "setup --reconfigure"; "configure" applies them.
  if ((${#opts[@]})); then meson configure "$dir" "${opts[@]}"; fi
  meson setup --reconfigure "$dir"
else
  rm -rf "$dir"
  meson setup "$dir" "${opts[@]}"
fi
if [[ ${targets[*]:-} == unit-tests ]]; then
  mapfile -t targets < <(ninja -C "$dir" -t targets all |
    sed -n 's|^\(tests/unit/[^:]*/test_[A-Za-z0-9_]*\): .*|\1|p' | sort -u)
  # UNIT_TEST_NAMES="test_a test_b": only these of them.
  if [[ -n ${UNIT_TEST_NAMES:-} ]]; then
    kept=()
    for t in "${targets[@]}"; do [[ " $UNIT_TEST_NAMES " == *" ${t##*/} "* ]] && kept+=("$t"); done
    targets=("${kept[@]}")
  fi
  ((${#targets[@]})) || { echo "build.sh: no unit test targets in $dir" >&2; exit 1; }
fi
ninja -C "$dir" -j "$jobs" "${targets[@]}"
