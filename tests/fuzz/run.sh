#!/usr/bin/env bash
# Runs libFuzzer targets one after the other, each for SECONDS, and prints
# executions per target (libFuzzer's stat::number_of_executed_units). What
# `make fuzz` calls; docs/fuzzing.md explains it.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (default: every target)
#
# Each target fuzzes with a working corpus BUILD_DIR/fuzz/corpus/<name> (kept
# between runs, so that later runs start from what earlier ones found), fed
# from the committed seeds (tests/fuzz/corpus/<name>) and past findings
# (tests/fuzz/regressions/<name>), which libFuzzer only reads. Options:
# tests/fuzz/<name>.dict is used as a dictionary; tests/fuzz/<name>.options
# holds extra libFuzzer flags. A crash, leak, timeout or sanitizer report
# leaves the input in BUILD_DIR/fuzz/artifacts/<name>/ and makes the script
# fail at the end. Logs: BUILD_DIR/fuzz/logs/<name>.log. FUZZ_FLAGS adds
# flags to every target (e.g. FUZZ_FLAGS=-jobs=2).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
build=$(cd "$build" && pwd)
if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

work=$build/fuzz
mkdir -p "$work/logs"
failed=()
rows=()
for name in "$@"; do
    bin=$build/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "run.sh: no $bin (build with: make fuzz)" >&2
        exit 2
    fi
    corpus=$work/corpus/$name
    artifacts=$work/artifacts/$name
    mkdir -p "$corpus" "$artifacts"
    flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2560
           -artifact_prefix="$artifacts/")
    [ -f "$here/$name.dict" ] && flags+=(-dict="$here/$name.dict")
    [ -f "$here/$name.options" ] && read -r -a extra <"$here/$name.options" && flags+=("${extra[@]}")
    # shellcheck disable=SC2206
    flags+=(${FUZZ_FLAGS:-})
    dirs=("$corpus" "$here/corpus/$name")
    [ -d "$here/regressions/$name" ] && dirs+=("$here/regressions/$name")
    log=$work/logs/$name.log
    echo "== fuzz_$name for ${seconds}s"
    start=$(date +%s)
    (cd "$work" && "$bin" "${flags[@]}" "${dirs[@]}") >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n1 | awk '{print $2}')
    rate=$(grep -a 'stat::average_exec_per_sec' "$log" | tail -n1 | awk '{print $2}')
    units=$(find "$corpus" -type f | wc -l)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (rc $rc): $(grep -a -m1 -E 'ERROR: |check failed|runtime error' "$log" | cut -c1-100)"
        failed+=("$name")
    fi
    rows+=("$(printf '%-10s %12s %9s %6s %7s  %s' "$name" "${execs:-?}" "${rate:-?}" "$secs" "$units" "$result")")
done

echo
printf '%-10s %12s %9s %6s %7s  %s\n' target executions exec/s secs corpus result
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo
    echo "run.sh: findings in: ${failed[*]} (inputs in $work/artifacts/, logs in $work/logs/)" >&2
    exit 1
fi
