#!/bin/sh
# run.sh BUILD: runs every test suite of erwatch and prints one closing line
# "N passed, N failed". A suite is a program that prints TAP-like lines
# ("ok NAME" / "not ok NAME" / "ok NAME # SKIP why"); each line is a test. A
# suite that exits non-zero without reporting a failure (a crash, a
# timeout) counts as one failed test, so nothing can fail silently.
#
#   lint         scripts/check_format.sh       (every C file as .clang-format says)
#   unit         build/tests/test_*            (C, tests/unit/)
#   fuzz replay  build/tests/fuzz_*_replay     (each fuzz target's corpus)
#   integration  tests/integration/test_*.py   (real daemon, /usr/bin/python3)
#
# TEST_FILTER=substr runs only suites whose name contains substr.
set -u
BUILD=${1:-build}
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"
PY=/usr/bin/python3
TIMEOUT=${TEST_TIMEOUT:-600}
passed=0 failed=0 skipped=0
failed_list=""
export EW_BUILD="$BUILD"
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 ${TSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
# Python itself is not instrumented: preload the runtime for the suites that
# load our sanitized liberwatch.so, and do not count CPython's own leaks.
PYENV=""
case "${EW_SAN:-}" in
    address) PYENV="LD_PRELOAD=$(cc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0" ;;
    thread) PYENV="LD_PRELOAD=$(cc -print-file-name=libtsan.so)" ;;
esac

run_suite() { # name, command...
    name=$1; shift
    case "$name" in *"${TEST_FILTER:-}"*) ;; *) return ;; esac
    log="$LOGS/$(echo "$name" | tr / _).log"
    start=$(date +%s)
    timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    s=$(grep -c '^ok .*# SKIP' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok $name (exit code $rc$( [ $rc -eq 124 ] && echo ', timed out after '"$TIMEOUT"'s'))" >>"$log"
    elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1  # a suite that ran nothing has not shown anything works
        echo "not ok $name (reported no test)" >>"$log"
    fi
    passed=$((passed + p - s)); skipped=$((skipped + s)); failed=$((failed + f))
    printf '%-28s %4d passed %3d failed %3d skipped  (%ss)\n' "$name" $((p - s)) "$f" "$s" $(( $(date +%s) - start ))
    if [ "$f" -ne 0 ]; then
        failed_list="$failed_list $name"
        grep '^not ok' "$log" | sed 's/^/    /'
        echo "    --- last lines of $log:"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
}

run_suite "lint/format" sh scripts/check_format.sh
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" "$t"
done
for t in "$BUILD"/tests/fuzz_*_replay; do
    [ -x "$t" ] || continue
    name=$(basename "$t" _replay); name=${name#fuzz_}
    run_suite "fuzz/$name-corpus" "$t" "tests/fuzz/corpus/$name"
done
for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    # shellcheck disable=SC2086
    run_suite "integration/$(basename "$t" .py)" env $PYENV "$PY" "$t"
done

if [ $((passed + failed)) -eq 0 ]; then
    echo "no test ran (is the build there? $BUILD/tests)"
    failed=1
fi
echo
[ -n "$failed_list" ] && echo "failed suites:$failed_list (logs in $LOGS/)"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
