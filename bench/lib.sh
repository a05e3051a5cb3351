# bench/lib.sh: what the benchmark scripts share (sourced after tools/lib.sh,
# not run): bench/run.sh and bench/growth.sh.
#
# bench_arguments "$@"            --smoke, --help
# bench_start PORT-FROM OUTNAME   scratch folder, exit trap that reports an
#                                 early stop, a throwaway cluster with
#                                 medreserve preloaded, database "bench"
#                                 with the extension, bench/sql/helpers.sql
#                                 and a copy of bench/scripts; sets OUT
#                                 (BENCH_OUT, or bench/OUTNAME, or a file in
#                                 the scratch folder for a smoke run)
# bench_context                   started_at, revision, load_at_start,
#                                 other_servers for the report
# bench_settings                  the server settings table of the report
# bench_load_schedule, bench_week  the schedule of load_schedule.sql, the week
# bench_keep_analysis, bench_finish  the end of a run
# q, check, record, verify_after, check_bookings, reset_bookings,
# wait_quiet, pgb, time_sql, in_order: see each below.
#
# The caller sets QUIET_WAIT and SECS first (after bench_arguments).

BENCH_DIR=$MR_TOP/bench

# bench_arguments "$@": --smoke (or BENCH_SMOKE=1) sets smoke=1; --help
# prints the calling script's header comment.
bench_arguments() {
    smoke=${BENCH_SMOKE:-0}
    for arg in "$@"; do
        case $arg in
        --smoke) smoke=1 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
        esac
    done
    [ "$smoke" = 0 ] || smoke=1
}

bench_start() {  # bench_arguments "$@"            --smoke, --help
# bench_start PORT-FROM OUTNAME [extra postgresql.conf lines...]
    local port_from=$1 outname=$2; shift 2
    mr_make_workdir
    finished=""
    passed=0; failed=0
    trap bench_on_exit EXIT
    OUT=${BENCH_OUT:-}
    [ -n "$OUT" ] || { if [ "$smoke" = 1 ]; then OUT=$MR_WORK/$outname; else OUT=$BENCH_DIR/$outname; fi; }
    local port; port=$(mr_free_port "$port_from")
    mr_say "starting a throwaway cluster on port $port ($MR_WORK)"
    mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'" "$@"
    export PGDATABASE=bench
    mr_psql -d postgres -c "CREATE DATABASE bench"
    mr_psql -c "SET client_min_messages = warning" -c "CREATE EXTENSION medreserve CASCADE"
    mr_psql -f "$BENCH_DIR/sql/helpers.sql"
    # reset_bookings empties these tables before every measured run.  TRUNCATE
    # leaves them "never analysed" (reltuples -1), so the planner assumes a
    # few pages and probes their indexes, as it does on a clinic's grown
    # tables.  An autovacuum that happened to ANALYZE one while it was empty
    # (reltuples 0) made the next run's kept plans scan it whole: the foreign
    # key check on bookings and the event's lookup of booking_slots, slower
    # with every booking of the run, in some runs and not others.
    mr_psql -c "ALTER TABLE medreserve.bookings SET (autovacuum_enabled = off)" \
            -c "ALTER TABLE medreserve.booking_slots SET (autovacuum_enabled = off)"
    cp -r "$BENCH_DIR/scripts" "$MR_WORK/scripts"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$MR_WORK/scripts"
    return 0
}

bench_on_exit() {
    local rc=$?
    if [ -z "$finished" ]; then
        echo "not ok - the benchmark stopped before its end (exit status $rc)"
        echo "$passed passed, $((failed + 1)) failed"
    fi
    declare -F http_stop >/dev/null && http_stop   # run.sh case 8's servers
    mr_cleanup
}

# bench_load_schedule DOCTORS PER-DOCTOR: bench/sql/load_schedule.sql,
# timed (load_seconds); sets FIRST, LAST, NSLOTS (the slots' ids and count)
# and DMIN, DMAX (the doctors' ids), and checks the ids are contiguous.
bench_load_schedule() {
    local t0; t0=$(date +%s.%N)
    q -v doctors="$1" -v per_doctor="$2" -f "$BENCH_DIR/sql/load_schedule.sql"
    load_seconds=$(echo "$(date +%s.%N) - $t0" | bc)
    read -r FIRST LAST NSLOTS DMIN DMAX <<<"$(q -F ' ' -c "SELECT min(id), max(id), count(*),
        (SELECT min(id) FROM medreserve.doctors), (SELECT max(id) FROM medreserve.doctors) FROM medreserve.slots")"
    printf '   %d slots (ids %d..%d) in %.1f s\n' "$NSLOTS" "$FIRST" "$LAST" "$load_seconds"
    check "schedule loaded: $NSLOTS slots with contiguous ids" \
        "$(q -c "SELECT $NSLOTS = $1 * $2 AND $LAST - $FIRST + 1 = $NSLOTS")"
}

# bench_week: FROM_TS, UNTIL_TS: the week from tomorrow 00:00, as ISO 8601.
bench_week() {
    read -r FROM_TS UNTIL_TS <<<"$(q -F ' ' -c "SELECT to_char(d, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),
        to_char(d + interval '7 days', 'YYYY-MM-DD\"T\"HH24:MI:SSOF')
        FROM (SELECT date_trunc('day', now()) + interval '1 day' AS d) AS w")"
}

# bench_keep_analysis: $OUT.new becomes $OUT, keeping the hand-written
# "## Analysis" of an earlier full run at its end.
bench_keep_analysis() {
    if [ "$smoke" = 0 ] && [ -f "$OUT" ] && grep -q '^## Analysis' "$OUT"; then
        { echo; sed -n '/^## Analysis/,$p' "$OUT"; } >> "$OUT.new"
    fi
    mv "$OUT.new" "$OUT"
    [ "$(id -u)" -eq 0 ] && [ "$smoke" = 0 ] && chown --reference="$BENCH_DIR" "$OUT" 2>/dev/null || true
}

# bench_finish: the last line, "N passed, M failed", and the exit status.
bench_finish() {
    echo
    finished=yes
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

bench_context() {
    started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    # the code under test
    revision=$(git -C "$MR_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ "$revision" != unknown ] && [ -n "$(git -C "$MR_TOP" status --porcelain -- src sql Makefile medreserve.control 2>/dev/null)" ]; then
        revision="$revision, with uncommitted changes in src/ or sql/"
    fi
    load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
    # other servers on the machine compete for its CPUs (ours is one of them;
    # those of private copies of the installation, tools/private-pg.sh, count)
    other_servers=$(( $(ps -eo args 2>/dev/null | grep -c '^[^ ]*/usr/lib/postgresql/[0-9]*/bin/postgres -D' || true) - 1 ))
}

bench_settings() {
    q -c "SELECT format('| %s | %s%s | %s |', name, setting, coalesce(' ' || unit, ''), source)
                   FROM pg_settings
                  WHERE (source NOT IN ('default', 'override') AND name NOT IN ('application_name', 'client_encoding', 'DateStyle', 'default_text_search_config', 'lc_messages', 'lc_monetary', 'lc_numeric', 'lc_time', 'log_timezone', 'TimeZone'))
                     OR name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method',
                                 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'jit',
                                 'plan_cache_mode', 'TimeZone')
                  ORDER BY name"
}

q() { mr_as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

check() {  # check DESCRIPTION CONDITION-AS-SQL-BOOLEAN-OR-SHELL-STATUS
    local what=$1 ok=$2
    if [ "$ok" = t ] || [ "$ok" = 0 ]; then
        passed=$((passed + 1)); echo "ok - $what"
    else
        failed=$((failed + 1)); echo "not ok - $what"
    fi
}

record() {  # record CASE CLIENTS VARIANT RUN VALUE UNIT
    q -c "INSERT INTO bench.results VALUES ('$1', $2, '$3', $4, $5, '$6')"
}

reset_bookings() {  # no bookings, every slot's state back to empty
    q -c "TRUNCATE medreserve.booking_slots, medreserve.bookings RESTART IDENTITY" \
      -c "UPDATE medreserve.slots SET seats_confirmed = 0, seats_held = 0, hold_lapses_at = NULL
           WHERE seats_confirmed + seats_held > 0" \
      -c "VACUUM medreserve.slots" -c "CHECKPOINT"
}

verify_after() {  # verify_after WHAT: medreserve_verify() finds no problem
    local problems
    problems=$(q -c "SELECT count(*) FROM medreserve_verify()")
    check "$1: medreserve_verify() finds no problem (slot state = booking rows; $problems found)" \
        "$( [ "$problems" -eq 0 ]; echo $?)"
}

# CPU busy share (percent) of the whole machine over the last second.
cpu_busy() {
    local a b
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ < /proc/stat
    sleep 1
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ < /proc/stat
    a=$(( (b1 + b2 + b3 + b6 + b7 + b8) - (a1 + a2 + a3 + a6 + a7 + a8) ))
    b=$(( a + (b4 + b5) - (a4 + a5) ))
    echo $(( b > 0 ? 100 * a / b : 0 ))
}
# Wait (up to QUIET_WAIT s) until the CPUs are at most 15% busy; count the
# measurements that had to start on a busy machine.
busy_starts=0; measurements=0
wait_quiet() {
    local waited=0 busy
    measurements=$((measurements + 1))
    [ "$QUIET_WAIT" -gt 0 ] || return 0
    while busy=$(cpu_busy); [ "$busy" -gt 15 ]; do
        waited=$((waited + 1))
        if [ $waited -ge "$QUIET_WAIT" ]; then
            busy_starts=$((busy_starts + 1))
            echo "   (the machine is still ${busy}% busy after ${QUIET_WAIT} s: measuring anyway)"
            return 0
        fi
    done
}

# cluster_ticks: CPU time (clock ticks, user + system) the cluster has used
# so far: the postmaster, its live children, and the children it has reaped
# (the kernel adds their times to its cutime and cstime).
cluster_ticks() {
    local pm f t pid
    pm=$(head -1 "$MR_DATA/postmaster.pid")
    f=$(cat "/proc/$pm/stat"); f=${f##*) }
    # shellcheck disable=SC2086
    set -- $f
    t=$(( ${12} + ${13} + ${14} + ${15} ))   # utime, stime, cutime, cstime
    for pid in $(pgrep -P "$pm"); do
        f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        t=$(( t + ${12} + ${13} ))
    done
    echo "$t"
}

# pgbench_run CLIENTS [pgbench options and -f scripts]: what pgb and
# pgb_mixed share.  Waits for a quiet machine, runs pgbench into
# $MR_WORK/pgbench.out and waits until its backends are reaped.  Sets
# PGB_RC (pgbench's exit status), PGB_TXNS (transactions, empty if none
# were reported) and PGB_TICKS (the cluster's CPU ticks over the run).
pgbench_run() {
    local clients=$1; shift
    local jobs=$(( clients < 2 ? 1 : 2 )) out=$MR_WORK/pgbench.out ticks0 i
    local pm; pm=$(head -1 "$MR_DATA/postmaster.pid")
    local children; children=$(pgrep -c -P "$pm")
    wait_quiet
    ticks0=$(cluster_ticks)
    PGB_RC=0
    mr_as_pg "$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$jobs" -T "$SECS" "$@" \
        bench > "$out" 2>&1 || PGB_RC=$?
    # the run's backends end after pgbench: wait until they are reaped
    for i in $(seq 1 50); do [ "$(pgrep -c -P "$pm")" -le "$children" ] && break; sleep 0.1; done
    PGB_TICKS=$(( $(cluster_ticks) - ticks0 ))
    PGB_TXNS=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
}

# pgbench_failed: after a failed run, pgbench's last words, as TAP comments.
pgbench_failed() {
    grep -m3 -E 'error|abort' "$MR_WORK/pgbench.out" | sed 's/^/#   /' || true
}

# pgb SCRIPT CLIENTS [pgbench options]: one pgbench run; sets PGB_TPS,
# PGB_TXNS and PGB_TPCPU (transactions per second of the cluster's CPU
# time, pgbench's own left out: steadier than tps on a VM whose cores swing,
# and the same ratio as tps when the server's CPUs are the limit); fails
# (after printing pgbench's last words) when a client aborted.
pgb() {
    local script=$1 clients=$2; shift 2
    pgbench_run "$clients" "$@" -f "$MR_WORK/scripts/$script.sql"
    PGB_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$MR_WORK/pgbench.out")
    if [ "$PGB_RC" -ne 0 ] || [ -z "$PGB_TPS" ] || [ -z "$PGB_TXNS" ]; then
        pgbench_failed
        PGB_TPS=0; PGB_TXNS=0; PGB_TPCPU=0
        return 1
    fi
    PGB_TPCPU=$(echo "scale=1; $PGB_TXNS * $(getconf CLK_TCK) / ($PGB_TICKS + 1)" | bc)
    printf '   %-28s %3d clients  %10.1f tps  %10.1f per CPU-second of the server\n' \
        "$script" "$clients" "$PGB_TPS" "$PGB_TPCPU"
}

# pgb_mixed CLIENTS SCRIPT... -- [pgbench options]: one pgbench run in which
# every client picks one of the scripts at random for each transaction, so
# all of them run side by side on the same cores at the same moments.  This
# VM's cores drift by a third within a minute, which separate runs of each
# variant, a minute apart, take for a difference between the variants; here
# the drift is shared.  Sets PGB_TXNS (all scripts) and PGB_MIX (an array,
# in the scripts' order): CLIENTS / latency average of that script's
# transactions.  Only ratios of these mean something, and only with one
# client, where they are the ratios of throughput: with more clients than
# cores each latency also holds the wait for a core, about the same for
# every script, which squeezes the ratios towards 1.  Fails like pgb.
pgb_mixed() {
    local clients=$1; shift
    local scripts=() files=() i lat
    while [ $# -gt 0 ] && [ "$1" != -- ]; do scripts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    for i in "${scripts[@]}"; do files+=(-f "$MR_WORK/scripts/$i.sql@1"); done
    pgbench_run "$clients" "$@" "${files[@]}"
    PGB_MIX=()
    # pgbench reports each script in order: "SQL script N: ...", then " - latency average = X ms"
    while read -r lat; do
        PGB_MIX+=("$(echo "scale=1; $clients * 1000 / $lat" | bc)")
    done < <(sed -n 's/^ - latency average = \([0-9.]*\) ms$/\1/p' "$MR_WORK/pgbench.out")
    if [ "$PGB_RC" -ne 0 ] || [ -z "$PGB_TXNS" ] || [ "${#PGB_MIX[@]}" -ne "${#scripts[@]}" ]; then
        pgbench_failed
        PGB_TXNS=0; PGB_MIX=()
        return 1
    fi
    for i in "${!scripts[@]}"; do
        printf '   %-28s %3d clients  %10.1f clients/latency (mixed)\n' "${scripts[$i]}" "$clients" "${PGB_MIX[$i]}"
    done
}

# time_sql SQL...: runs the statements in one session, sets TIMED_MS (the
# time of the last) and TIMED_RESULT (its first output line).
time_sql() {
    local out args=(-c '\timing on')
    wait_quiet
    for sql in "$@"; do args+=(-c "$sql"); done
    out=$(q "${args[@]}")
    TIMED_RESULT=$(printf '%s\n' "$out" | { grep -v '^Time: ' || true; } | head -1)
    TIMED_MS=$(printf '%s\n' "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
}

in_order() {  # in_order RUN WORD...: the words, reversed on even runs
    local run=$1; shift
    if [ $((run % 2)) -eq 1 ]; then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}

# Does a booking run leave exactly one booking per transaction, each with its
# own slot?  (pgbench finishes the transaction in flight when time is up.)
# Only the bookings with ids above ABOVE-ID (default 0) count: those the run
# made, in tables that hold others (bench/growth.sh's past bookings).
check_bookings() {  # check_bookings WHAT TXNS CLIENTS STATUS [ABOVE-ID]
    local above=${5:-0}
    check "$1: one $4 booking per transaction, one slot each" "$(q -c "
        SELECT count(*) BETWEEN $2 AND $2 + $3
           AND count(*) = count(DISTINCT slot_id)
           AND count(*) = (SELECT count(*) FROM medreserve.booking_slots WHERE booking_id > $above)
           AND bool_and(status = '$4')
          FROM medreserve.bookings WHERE id > $above")"
}

