#!/bin/sh
# Run every libFuzzer target of tests/fuzz for a bounded number of inputs or
# seconds, and say per target how many inputs it ran and that it found
# nothing.  "make fuzz" builds the targets and the seeds, then runs this from
# the top of the source tree.  Exits 1 when any target found a crash, a
# leak, a sanitizer report or a timeout (an input slower than 10 s).
#
# Each target first runs the saved inputs of tests/fuzz/regressions/<name>/
# (bugs found before), then fuzzes from the seeds in $BUILD/corpus/<name>,
# writing the new inputs it finds to $BUILD/work/<name> (emptied first) and
# a crashing input to $BUILD/crashes/.  Logs: $BUILD/logs/.
#
# Limits (environment):
#   default      fuzz_mail 1000000 inputs; the others 200000 inputs or 60
#                seconds, whichever comes first
#   FUZZ_RUNS=N  every target runs N inputs
#   FUZZ_TIME=S  every target runs S seconds (and no input limit unless
#                FUZZ_RUNS is given too)
# With two CPUs or more, fuzz_mail runs beside the other targets; when its
# limit is a number of inputs, a second fuzz_mail process on the same corpus
# takes the rest of them once the other targets are done.
BUILD=${BUILD:-build/fuzz}
WORK=$BUILD/work
CRASHES=$BUILD/crashes
LOGS=$BUILD/logs
mkdir -p "$WORK" "$CRASHES" "$LOGS"
rm -f "$LOGS"/*.result "$LOGS"/*.log "$LOGS"/*.failed

max_len() {
    case $1 in
    mail) echo 262144 ;;
    subject) echo 4096 ;;
    journal) echo 65536 ;;
    config) echo 8192 ;;
    esac
}

# fuzz TARGET PART RUNS SECONDS: one libFuzzer process (RUNS -1 and SECONDS
# 0 mean no limit).  Writes $LOGS/fuzz_TARGET.PART.log and, as one line,
# $LOGS/fuzz_TARGET.PART.result: "ok INPUTS START END" (epoch seconds) or
# "FAILED what happened".
fuzz() {
    t=$1 part=$2
    bin=$BUILD/fuzz_$t
    log=$LOGS/fuzz_$t.$part.log
    res=$LOGS/fuzz_$t.$part.result
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" -runs="$3" -max_total_time="$4" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$CRASHES/fuzz_$t-" \
        $dict "$WORK/$t" "$BUILD/corpus/$t" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    secs=$((end - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
        echo "ok $execs $start $end" >"$res"
    else
        what=$(grep -m 1 -E '^SUMMARY|runtime error|ALARM|out-of-memory|^fuzz_[a-z]*: ' "$log")
        art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
        echo "FAILED after ${execs:-?} inputs in ${secs}s: ${what:-exit status $rc}; input: ${art:-none saved}; log: $log" >"$res"
    fi
}

# regressions TARGET: replay the saved inputs; 0 when they all pass.
regressions() {
    t=$1
    files=$(find "tests/fuzz/regressions/$t" -type f 2>/dev/null | sort)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    "$BUILD/fuzz_$t" -timeout=10 $files >"$LOGS/fuzz_$t.regressions.log" 2>&1
}

# summary TARGET: one line from the regression replay and the parts' results.
summary() {
    t=$1
    nregs=$(find "tests/fuzz/regressions/$t" -type f 2>/dev/null | wc -l)
    if [ -f "$LOGS/fuzz_$t.regressions.failed" ]; then
        echo "FAILED fuzz_$t: a saved input of tests/fuzz/regressions/$t fails again; log: $LOGS/fuzz_$t.regressions.log"
        return
    fi
    execs=0 first="" last=0 parts=0 failed=""
    for r in "$LOGS"/fuzz_"$t".*.result; do
        [ -f "$r" ] || continue
        read -r status n t0 t1 <"$r"
        if [ "$status" = ok ]; then
            execs=$((execs + n))
            if [ -z "$first" ] || [ "$t0" -lt "$first" ]; then first=$t0; fi
            if [ "$t1" -gt "$last" ]; then last=$t1; fi
            parts=$((parts + 1))
        else
            failed="$failed${failed:+ /} $(cat "$r")"
        fi
    done
    if [ -n "$failed" ] || [ "$parts" -eq 0 ]; then
        echo "FAILED fuzz_$t:${failed:- did not run}"
        return
    fi
    found=$(find "$WORK/$t" -type f | wc -l)
    how="in $((last - first))s"
    [ "$parts" -gt 1 ] && how="in $((last - first))s by $parts processes"
    echo "ok     fuzz_$t: $execs inputs $how, $nregs saved inputs replayed, $found new corpus inputs; nothing found (no crash, leak, sanitizer report or timeout)"
}

start_target() {
    t=$1
    rm -rf "${WORK:?}/$t"
    mkdir -p "$WORK/$t"
    if ! regressions "$t"; then
        : >"$LOGS/fuzz_$t.regressions.failed"
        return 1
    fi
}

others="subject journal config"
runs_other=${FUZZ_RUNS:-200000} time_other=${FUZZ_TIME:-60}
[ -n "$FUZZ_RUNS" ] && [ -z "$FUZZ_TIME" ] && time_other=0
[ -n "$FUZZ_TIME" ] && [ -z "$FUZZ_RUNS" ] && runs_other=-1
runs_mail=${FUZZ_RUNS:-1000000} time_mail=${FUZZ_TIME:-0}
[ -n "$FUZZ_TIME" ] && [ -z "$FUZZ_RUNS" ] && runs_mail=-1
cpus=$(nproc 2>/dev/null || echo 1)

split=0
if [ "$cpus" -ge 2 ] && [ "$runs_mail" -gt 0 ] && [ "$time_mail" -eq 0 ]; then
    split=1
    runs_a=$((runs_mail * 11 / 20))      # the second process starts ~90 s later
    runs_b=$((runs_mail - runs_a))
fi

pid=""
if start_target mail; then
    if [ "$cpus" -ge 2 ]; then
        if [ "$split" -eq 1 ]; then
            echo "fuzz_mail: $runs_a inputs in the background, $runs_b more after the others"
            fuzz mail 1 "$runs_a" 0 &
        else
            echo "fuzz_mail: in the background (runs $runs_mail, seconds $time_mail)"
            fuzz mail 1 "$runs_mail" "$time_mail" &
        fi
        pid=$!
    else
        echo "fuzz_mail: running (runs $runs_mail, seconds $time_mail)"
        fuzz mail 1 "$runs_mail" "$time_mail"
    fi
fi
for t in $others; do
    echo "fuzz_$t: running (runs $runs_other, seconds $time_other)"
    start_target "$t" && fuzz "$t" 1 "$runs_other" "$time_other"
    summary "$t"
done
if [ "$split" -eq 1 ] && [ ! -f "$LOGS/fuzz_mail.regressions.failed" ]; then
    echo "fuzz_mail: $runs_b more inputs in a second process"
    fuzz mail 2 "$runs_b" 0
fi
[ -n "$pid" ] && wait "$pid"

echo
failed=0
for t in mail $others; do
    line=$(summary "$t")
    echo "$line"
    case $line in ok*) ;; *) failed=1 ;; esac
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED (crashing inputs are in $CRASHES/)"
    exit 1
fi
echo "fuzz: every target ran clean"
