#!/usr/bin/env bash
# Installs dependencies, builds (plain, ASan/UBSan and TSan), runs every unit
# test binary of each build and the functional tests, and prints as its very
# last line "N passed, N failed" (", N skipped" when any). Exits non-zero when
# anything failed or a suite could not run (a build failure counts).
#
# Usage: ./tests/run_all.sh
# Env:   SKIP_DEPS=1   do not run install-deps.sh
#        SKIP_ASAN=1   skip the ASan/UBSan build and its unit tests
#        SKIP_TSAN=1   skip the ThreadSanitizer build and its unit tests
#        TSAN_TESTS    the unit test binaries built and run under TSan (names);
#                      default: the ones where threads meet (TSAN_DEFAULT below);
#                      "all": every one
#        PYTEST_ARGS   extra pytest arguments (e.g. "-k ping")
#
# Runs on a machine with nothing preinstalled (a minimal Debian 12 has no
# python3): every tool that install-deps.sh provides is looked up only after
# it ran, and the summary line is printed even when python3 is missing or
# the script is interrupted.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

RESULTS=$ROOT/test-results
LOGS=$RESULTS/logs
rm -rf "$RESULTS"
mkdir -p "$LOGS"
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}
FUNC_TIMEOUT=${FUNC_TIMEOUT:-1500}
START=$(date +%s)
PY=""   # resolved after install-deps.sh (resolve_tools)

step() { printf '\n=== %s (%ds) ===\n' "$*" "$(( $(date +%s) - START ))"; }

xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# A JUnit file with one failed case, for a suite that could not run.
fail_case() {  # fail_case FILE-STEM SUITE NAME MESSAGE
  local msg
  msg=$(printf '%s' "$4" | tr -d '\000-\010\013\014\016-\037' | xml_escape)
  cat > "$RESULTS/$1.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="$2" tests="1" failures="1" errors="0">
<testcase classname="$2" name="$3"><failure message="$msg">$msg</failure></testcase>
</testsuite></testsuites>
EOF
  echo "FAILED: $2.$3: $4"
}

tail_log() { tail -n "${2:-30}" "$1" 2>/dev/null | sed 's/^/    /'; }

# Show a sanitizer report from its start (the tail of a TSan log is only the
# second stack and the summary); otherwise the last lines.
show_failure_log() {  # show_failure_log LOG
  local first
  first=$(grep -n -m1 -E '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: |.*runtime error: )' "$1" 2>/dev/null | cut -d: -f1)
  if [[ -n $first ]]; then
    sed -n "${first},$((first + 60))p" "$1" | sed 's/^/    /'
  else
    tail_log "$1" 20
  fi
}

# --- summary (also on early exit) ---------------------------------------------------
# Counts JUnit test cases without python: each <testcase> is failed when it holds
# <failure> or <error>, skipped when it holds <skipped> or is a GoogleTest case
# that did not run. Used when python3 is missing or junit_summary.py breaks.
summary_awk() {
  local f p=0 fl=0 sk=0 c a b d
  for f in $(find "$RESULTS" -name '*.xml' -type f | sort); do
    c=$(awk 'BEGIN { RS = "<testcase"; p = f = s = 0 }
      NR > 1 {
        e = index($0, ">"); head = substr($0, 1, e)
        body = ""
        if (substr($0, e - 1, 1) != "/") {
          k = index($0, "</testcase>"); body = (k ? substr($0, e + 1, k - e - 1) : substr($0, e + 1))
        }
        if (body ~ /<(failure|error)[ \t\n>\/]/) f++
        else if (body ~ /<skipped/ || head ~ /result="skipped"/ || head ~ /status="notrun"/) s++
        else p++
      }
      END { print p, f, s }' "$f")
    read -r a b d <<<"$c"
    echo "$(basename "$f"): $a passed, $b failed$( ((d)) && echo ", $d skipped")"
    p=$((p + a)); fl=$((fl + b)); sk=$((sk + d))
  done
  SUMMARY_LINE="$p passed, $fl failed$( ((sk)) && echo ", $sk skipped")"
  if ((fl)); then SUMMARY_RC=1; elif ((p + sk == 0)); then SUMMARY_RC=2; else SUMMARY_RC=0; fi
}

SUMMARY_DONE="" SUMMARY_RC=1
summary() {
  [[ -n $SUMMARY_DONE ]] && return "$SUMMARY_RC"
  SUMMARY_DONE=1
  step "summary"
  local out rc last
  if [[ -n $PY ]]; then
    out=$("$PY" tests/lab/junit_summary.py "$RESULTS" 2>&1)
    rc=$?
    last=${out##*$'\n'}
    if [[ $rc -le 2 && $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed(,\ [0-9]+\ skipped)?$ ]]; then
      printf '%s\n' "$out"
      SUMMARY_RC=$rc
      return "$rc"
    fi
    printf '%s\n' "$out"
    echo "summary: tests/lab/junit_summary.py exited with $rc without a summary; counting with awk"
  else
    echo "summary: python3 not available; counting with awk"
  fi
  summary_awk
  echo "$SUMMARY_LINE"
  return "$SUMMARY_RC"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
  local rc=$?
  if [[ -z $SUMMARY_DONE ]]; then
    fail_case aborted run_all aborted "tests/run_all.sh stopped early (exit $rc)"
    summary
    exit $((rc ? rc : 1))
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Tools that install-deps.sh may just have installed. Debian's python3 first:
# apt installs pytest and scapy for it, not for a python3 earlier on PATH
# (pyenv, a venv).
resolve_tools() {
  PY=/usr/bin/python3
  [[ -x $PY ]] || PY=$(command -v python3 || true)
  [[ -n $PY ]] || echo "python3 not found: functional tests cannot run"
}

# --- dependencies -------------------------------------------------------------
if [[ -z ${SKIP_DEPS:-} ]]; then
  step "install dependencies"
  if ! ./tests/lab/install-deps.sh > "$LOGS/install-deps.log" 2>&1; then
    tail_log "$LOGS/install-deps.log"
    fail_case deps setup install_deps "tests/lab/install-deps.sh failed (see $LOGS/install-deps.log)"
  else
    tail -n 1 "$LOGS/install-deps.log"
  fi
fi
resolve_tools

# ThreadSanitizer is for where threads meet: the binaries whose code runs
# threads (workers, agent, builder, channel server, control process, health
# checker). The parsers, packet code and CLI formatting are single-threaded
# and run under ASan/UBSan; leaving them out of the TSan build keeps CI
# inside its 30 minutes.
TSAN_DEFAULT="test_dataplane test_lifecycle test_tables test_lb test_neighbor test_channel test_health test_control test_rdma_standin test_rdma_transport"
TSAN_TESTS=${TSAN_TESTS:-$TSAN_DEFAULT}
[[ $TSAN_TESTS == all ]] && TSAN_TESTS=""

# --- builds -------------------------------------------------------------------
builds=(build)
[[ -z ${SKIP_ASAN:-} ]] && builds+=(build-asan)
[[ -z ${SKIP_TSAN:-} ]] && builds+=(build-tsan)
declare -A built
for b in "${builds[@]}"; do
  step "build $b"
  # The sanitizer builds run only the unit tests: build only those.
  what=()
  [[ $b != build ]] && what=(unit-tests)
  names=""
  [[ $b == build-tsan ]] && names=${TSAN_TESTS:-}
  if UNIT_TEST_NAMES=$names ./tests/lab/build.sh "$b" "${what[@]}" > "$LOGS/$b.log" 2>&1; then
    built[$b]=1
    tail -n 1 "$LOGS/$b.log"
  else
    built[$b]=0
    tail_log "$LOGS/$b.log" 40
    fail_case "build-$b" build "$b" "tests/lab/build.sh $b failed (see $LOGS/$b.log)"
  fi
done

# --- unit tests (GoogleTest) -----------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The first race ends the binary (its report is the failure); a deadlock report
# shows where both locks were taken; the largest history keeps the earlier
# access's stack in a report (with the default, a read long before the free of
# a retired table shows as "failed to restore the stack"; costs ~4% memory).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=7}

run_gtest() {  # run_gtest BUILD BINARY
  local b=$1 bin=$2 rel stem xml log rc
  rel=${bin#"$b/tests/unit/"}
  stem="unit-$b-$(printf '%s' "$rel" | tr '/' '_')"
  xml=$RESULTS/$stem.xml
  log=$LOGS/$stem.log
  timeout -k 10 "$UNIT_TIMEOUT" "$bin" --gtest_output="xml:$xml" > "$log" 2>&1
  rc=$?
  if [[ $rc -ne 0 ]] && grep -q "LeakSanitizer has encountered a fatal error" "$log"; then
    # LSan cannot run under some tracers/containers: run without leak checks.
    echo "  $rel: LeakSanitizer unsupported here, re-running with detect_leaks=0"
    ASAN_OPTIONS="${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}" \
      timeout -k 10 "$UNIT_TIMEOUT" "$bin" --gtest_output="xml:$xml" > "$log" 2>&1
    rc=$?
  fi
  if [[ $rc -ne 0 ]] && grep -qE "ThreadSanitizer: unexpected memory mapping|memory layout is incompatible" "$log"; then
    # GCC 12's TSan needs the old 28-bit mmap randomisation; with more
    # (vm.mmap_rnd_bits > 28) it cannot place its shadow. Run without ASLR.
    echo "  $rel: TSan cannot map its shadow with this ASLR, re-running with setarch -R"
    timeout -k 10 "$UNIT_TIMEOUT" setarch "$(uname -m)" -R "$bin" --gtest_output="xml:$xml" > "$log" 2>&1
    rc=$?
  fi
  local line
  line=$(grep -E '^\[  (PASSED|FAILED)  \]' "$log" | head -n 2 | tr '\n' ' ')
  printf '  %-40s rc=%d %s\n' "$b/$rel" "$rc" "$line"
  if [[ ! -s $xml ]]; then
    show_failure_log "$log"
    fail_case "$stem" "$b" "$rel" "exited with $rc and wrote no JUnit XML (crash, sanitizer report or timeout; see $log)"
  elif [[ $rc -ne 0 ]] && ! grep -q '<failure' "$xml"; then
    # Every case passed but the process failed: sanitizer report at exit, leak, crash in teardown.
    show_failure_log "$log"
    mv "$xml" "$RESULTS/$stem.cases.xml"
    fail_case "$stem" "$b" "$rel.exit" "exited with $rc after its cases passed (sanitizer/leak report? see $log)"
  fi
}

for b in "${builds[@]}"; do
  step "unit tests in $b"
  if [[ ${built[$b]} != 1 ]]; then
    echo "  skipped: $b did not build (counted as a failure above)"
    continue
  fi
  mapfile -t bins < <(find "$b/tests/unit" -type f -executable -name 'test_*' 2>/dev/null | sort)
  if [[ $b == build-tsan && -n ${TSAN_TESTS:-} ]]; then
    wanted=" $TSAN_TESTS "
    kept=()
    for bin in "${bins[@]}"; do
      [[ $wanted == *" $(basename "$bin") "* ]] && kept+=("$bin")
    done
    echo "  TSAN_TESTS: ${#kept[@]} of ${#bins[@]} binaries"
    bins=("${kept[@]}")
  fi
  if ((${#bins[@]} == 0)); then
    fail_case "unit-$b-none" "$b" "unit_tests" "no test_* executables under $b/tests/unit${TSAN_TESTS:+ matching TSAN_TESTS}"
    continue
  fi
  for bin in "${bins[@]}"; do
    run_gtest "$b" "$bin"
  done
done

# --- functional tests ----------------------------------------------------------------
step "functional tests"
if [[ ${built[build]} != 1 ]]; then
  fail_case functional-not-run functional not_run "build failed: functional tests not run"
elif [[ -z $PY ]]; then
  fail_case functional-not-run functional not_run "python3 not found (did install-deps.sh fail?): functional tests not run"
else
  pytest_args=(-v -p no:cacheprovider --junitxml="$RESULTS/functional.xml")
  if "$PY" -c 'import pytest_timeout' 2>/dev/null; then
    pytest_args+=(--timeout=300)
  fi
  # shellcheck disable=SC2206
  [[ -n ${PYTEST_ARGS:-} ]] && pytest_args+=($PYTEST_ARGS)
  timeout -k 20 "$FUNC_TIMEOUT" "$PY" -m pytest tests/functional "${pytest_args[@]}" \
    2>&1 | tee "$LOGS/functional.log"
  rc=${PIPESTATUS[0]}
  echo "pytest exit code $rc"
  if [[ $rc -eq 5 ]]; then
    fail_case functional-empty functional collected "pytest collected no tests"
  elif [[ $rc -ne 0 && $rc -ne 1 ]] || [[ ! -s $RESULTS/functional.xml ]]; then
    fail_case functional-run functional run "pytest exited with $rc (timeout, crash or usage error; see $LOGS/functional.log)"
  fi
fi

# --- summary ------------------------------------------------------------------------
summary
exit $?
