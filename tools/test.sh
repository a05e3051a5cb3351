#!/usr/bin/env bash
# Set everything up on a fresh Debian 12 machine and run every test suite:
# pg_regress and isolation specs (each on its own throwaway server); pgTAP,
# the many-client race, log privacy, upgrade, PostgREST and pg_cron on one
# more throwaway cluster; then the fault tests, each on its own clusters.
# Prints one line per suite and a closing "N passed, N failed".
source "$(dirname "$0")/lib.sh"

mr_install_packages
mr_build_install

passed=0; failed=0; failed_names=()
run_suite() {
    local name=$1; shift
    mr_say "suite: $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1)); echo "-- $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1)); failed_names+=("$name"); echo "-- $name: FAILED ($((SECONDS - start)) s)"
    fi
}

# pg_regress writes results/ into the tree and the server runs as postgres.
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$MR_TOP"

regress_and_isolation() {
    if ! mr_as_pg make -C "$MR_TOP" -s installcheck PG_CONFIG="$PG_CONFIG"; then
        cat "$MR_TOP"/regression.diffs "$MR_TOP"/output_iso/regression.diffs 2>/dev/null | head -200
        return 1
    fi
}
run_suite "pg_regress + isolation" regress_and_isolation
# as root: builds the .deb, lintian, apt-get install, book, purge; puts back make install's files
run_suite "Debian package (build, lintian, apt-get install, book, purge)" \
    bash "$MR_TOP/tools/package-test.sh" --system --quick

mr_make_workdir
trap mr_cleanup EXIT
port=$(mr_free_port 54600)
mr_say "starting a throwaway cluster on port $port ($MR_WORK)"
export MR_CRON_DB=medreserve_cron MR_SERVER_LOG=$MR_WORK/server.log
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve,pg_cron'" \
    "cron.database_name = '$MR_CRON_DB'" "cron.use_background_workers = on" \
    "max_worker_processes = 16" "log_line_prefix = '%m [%p] %q%u@%d '"

run_suite "pgTAP" bash "$MR_TOP/test/run_pgtap.sh"
run_suite "race" bash "$MR_TOP/test/race.sh"
run_suite "privacy of the server log" bash "$MR_TOP/test/privacy.sh"
run_suite "upgrade chain" bash "$MR_TOP/test/upgrade.sh"
run_suite "PostgREST over HTTP" bash "$MR_TOP/test/http/run.sh"
run_suite "pg_cron end to end" bash "$MR_TOP/test/cron_e2e.sh"
run_suite "browser: Chromium through nginx and PostgREST" bash "$MR_TOP/test/browser/run.sh"

mr_cleanup
trap - EXIT

# Static analysis, and the regression run under ASan/UBSan in a private copy
# of the server's installation.
run_suite "static analysis (cppcheck, clang-tidy)" make -C "$MR_TOP" -s analyse PG_CONFIG="$PG_CONFIG"
run_suite "sanitizers (address, undefined)" make -C "$MR_TOP" -s sanitize-check PG_CONFIG="$PG_CONFIG"

# The benchmark's smoke run: every case briefly, invariants only, no timings.
run_suite "benchmark smoke run" bash "$MR_TOP/bench/run.sh" --smoke

# Faults: each script starts and stops its own cluster(s).
run_suite "crash recovery" bash "$MR_TOP/test/faults/crash.sh"
run_suite "backup and restore" bash "$MR_TOP/test/faults/backup_restore.sh"
run_suite "hot standby" bash "$MR_TOP/test/faults/replica.sh"
run_suite "hostile input" bash "$MR_TOP/test/faults/hostile.sh"
run_suite "memory of one backend" bash "$MR_TOP/test/faults/memory.sh"
echo
[ $failed -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
