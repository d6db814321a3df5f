#!/bin/sh
# Run every test of patchdigest: the cmocka unit tests (one binary
# build/tests/test_X for each tests/unit/test_X.c) and the integration tests
# (tests/integration/test_*.py, which start their own redis-server and
# patchdigest-milter).  Counts test cases and ends with the line
# "N passed, N failed, N skipped", after the list of what was skipped and
# why.  A skip is never a pass: cmocka's "[  SKIPPED ]" tests and the
# integration tests' "skip - name # SKIP why" lines (or a TAP "ok ... # SKIP")
# count as skipped.  A unit test whose binary is missing is a failure.  Run
# from the top of the source tree, after "make all" and the test binaries:
# "make check" does all of it.
BUILD=${BUILD:-build}
export BUILD
passed=0
failed=0
skipped=0
log=$(mktemp)
skips=$(mktemp)
fails=$(mktemp)
trap 'rm -f "$log" "$skips" "$fails"' EXIT

for src in tests/unit/test_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    t="$BUILD/tests/$name"
    echo "== $t"
    if [ ! -x "$t" ]; then
        echo "not ok - $name: the unit test binary $t is missing (make $t)"
        echo "$t: the binary is missing" >>"$fails"
        failed=$((failed + 1))
        continue
    fi
    t0=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "== $t: $(($(date +%s) - t0)) s"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # crashed before cmocka could count
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        f=1   # ran no test at all
    fi
    # cmocka lists each skipped test as "[  SKIPPED ] name" after its summary
    sed -n 's/^\[  SKIPPED \] \([^0-9].*\)/\1/p' "$log" | sed "s|^|$name: |" >>"$skips"
    [ "$f" -ne 0 ] && echo "$t" >>"$fails"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
done

for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    echo "== $t"
    t0=$(date +%s)
    python3 "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "== $t: $(($(date +%s) - t0)) s"
    name=$(basename "$t")
    s=$(grep -c -E '^skip - |^ok .*# ?SKIP' "$log")
    p=$(grep '^ok ' "$log" | grep -c -v -E '# ?SKIP')
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        f=1   # printed no result at all
    fi
    grep -E '^skip - |^ok .*# ?SKIP' "$log" |
        sed -e 's/^skip - //' -e 's/^ok - *//' -e 's/^ok *//' -e "s|^|$name: |" >>"$skips"
    [ "$f" -ne 0 ] && echo "$t" >>"$fails"
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
done

echo
if [ -s "$fails" ]; then
    echo "failed in:"
    sed 's/^/  /' "$fails"
fi
if [ -s "$skips" ]; then
    echo "skipped (and why):"
    sed 's/^/  /' "$skips"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
