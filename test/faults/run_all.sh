#!/usr/bin/env bash
# run_all.sh: run every fault test of test/faults/ in turn, each on its own
# throwaway cluster(s), and end with "N passed, M failed" over the scripts.
# Each script's own lines are shown as they come.  A script that runs longer
# than MR_FAULTS_TIMEOUT seconds (300) is stopped (it cleans up after itself)
# and counts as failed.
#
# Usage (as root, with medreserve built and installed):
#   bash test/faults/run_all.sh [script ...]     default: all five
dir=$(cd "$(dirname "$0")" && pwd)
timeout_s=${MR_FAULTS_TIMEOUT:-300}
scripts=("$@")
[ ${#scripts[@]} -eq 0 ] && scripts=(crash.sh backup_restore.sh replica.sh hostile.sh memory.sh)

passed=0; failed=0; summary=()
for s in "${scripts[@]}"; do
    printf '\n== %s\n' "$s"
    start=$SECONDS
    out=$(mktemp /tmp/medreserve-faults.XXXXXX)
    timeout --kill-after=20 "$timeout_s" bash "$dir/${s##*/}" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    last=$(tail -1 "$out")
    rm -f "$out"
    if [ $rc -eq 0 ] && [[ $last =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
        passed=$((passed + 1)); summary+=("ok - $s ($last, $((SECONDS - start)) s)")
    else
        [ $rc -eq 124 ] && last="timed out after $timeout_s s"
        failed=$((failed + 1)); summary+=("not ok - $s (${last:-no output}, exit $rc, $((SECONDS - start)) s)")
    fi
done

printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
