#!/bin/sh
# Run every test of patchdigest: the cmocka unit tests (build/tests/test_*)
# and the integration tests (tests/integration/test_*.py, which start their
# own redis-server and patchdigest-milter).  Counts test cases and ends with
# the line "N passed, N failed".  Run from the top of the source tree, after
# "make all" and the test binaries: "make check" does all of it.
BUILD=${BUILD:-build}
export BUILD
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"
    t0=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "== $t: $(($(date +%s) - t0)) s"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # crashed before cmocka could count
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    echo "== $t"
    t0=$(date +%s)
    python3 "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "== $t: $(($(date +%s) - t0)) s"
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
