#!/usr/bin/env bash
# Installs dependencies, builds (plain and ASan/UBSan), runs every unit test
# binary of both builds and the functional tests, and prints as its very last
# line "N passed, N failed" (", N skipped" when any). Exits non-zero when
# anything failed or a suite could not run (a build failure counts).
#
# Usage: ./tests/run_all.sh
# Env:   SKIP_DEPS=1   do not run install-deps.sh
#        SKIP_ASAN=1   skip the sanitizer build and its unit tests
#        PYTEST_ARGS   extra pytest arguments (e.g. "-k ping")
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RESULTS=$ROOT/test-results
LOGS=$RESULTS/logs
rm -rf "$RESULTS"
mkdir -p "$LOGS"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}
FUNC_TIMEOUT=${FUNC_TIMEOUT:-1500}
START=$(date +%s)

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

# --- builds -------------------------------------------------------------------
builds=(build)
[[ -z ${SKIP_ASAN:-} ]] && builds+=(build-asan)
declare -A built
for b in "${builds[@]}"; do
  step "build $b"
  if ./tests/lab/build.sh "$b" > "$LOGS/$b.log" 2>&1; then
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
  local line
  line=$(grep -E '^\[  (PASSED|FAILED)  \]' "$log" | head -n 2 | tr '\n' ' ')
  printf '  %-40s rc=%d %s\n' "$b/$rel" "$rc" "$line"
  if [[ ! -s $xml ]]; then
    tail_log "$log" 20
    fail_case "$stem" "$b" "$rel" "exited with $rc and wrote no JUnit XML (crash or timeout; see $log)"
  elif [[ $rc -ne 0 ]] && ! grep -q '<failure' "$xml"; then
    # Every case passed but the process failed: sanitizer report at exit, leak, crash in teardown.
    tail_log "$log" 20
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
  if ((${#bins[@]} == 0)); then
    fail_case "unit-$b-none" "$b" "unit_tests" "no test_* executables under $b/tests/unit"
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
step "summary"
"$PY" tests/lab/junit_summary.py "$RESULTS"
exit $?
