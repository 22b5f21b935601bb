#!/bin/sh
# check_format.sh: every C file of the tree is formatted as .clang-format
# says (Debian 12's clang-format 14). A TAP-like suite for tests/run.sh:
# "ok clang-format (N files)", or a "not ok FILE" line with the first
# differences for each file that is not. `sh scripts/check_format.sh --fix`
# reformats in place instead.
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
    echo "not ok clang-format is not installed (scripts/deps.sh installs it)"
    exit 1
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find daemon client tests -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
    # shellcheck disable=SC2086
    clang-format -i $files
    exit 0
fi
bad=0 n=0
for f in $files; do
    n=$((n + 1))
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not ok $f (run: sh scripts/check_format.sh --fix)"
        clang-format --dry-run "$f" 2>&1 | head -n 6 | sed 's/^/#   /'
        bad=1
    fi
done
[ "$bad" -eq 0 ] && echo "ok clang-format ($n files)"
exit $bad
