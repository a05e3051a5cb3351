#!/usr/bin/env bash
# bench/growth.sh: the growth cases of the benchmark (issue 11): does the
# cost of booking, availability and the sweep grow with the work, not with
# the tables?  One run, one throwaway cluster, writes bench/GROWTH.md:
#
#   bash bench/growth.sh            full run (30-50 minutes on 2 cores)
#   bash bench/growth.sh --smoke    the same steps on tiny tables (seconds);
#                                   checks only that it runs and that the
#                                   invariants hold (CI)
#
#   1 small  the 1M schedule of bench/run.sh (1000 doctors x 1000 future
#            slots): booking throughput (medreserve_book, 8 clients, each its
#            own slots) and availability (one doctor's week, 8 clients, the
#            bookings of bench/sql/realistic_bookings.sql); the sweep of 10k
#            and 100k lapsed holds (medreserve_expire(), as run.sh case 4)
#   2 grow   to 10M slots and 5M past bookings by a bulk load
#            (bench/sql/growth_load.sql: set-based INSERT ... SELECT, the
#            exclusion constraint dropped and re-made), timed; VACUUM ANALYZE
#   3 large  the same booking and availability runs (same slots, same
#            bookings of the week), ratio large/small, target >= 0.85x each;
#            the sweep of 10k, 100k and 1M lapsed holds on the large tables:
#            time per 1000 holds, the ratio per-hold(1M)/per-hold(10k)
#            (linear in the holds), and large/small for 10k and 100k (not
#            with the table)
#
# After every step it checks invariants (medreserve_verify() finds nothing,
# no client aborted, one booking per booking transaction, every lapsed hold
# FAILED and released, the live holds kept) and ends with "N passed, M
# failed"; the exit status is non-zero on failure.  Timings are reported,
# never asserted.
#
# Settings (environment): BENCH_SECONDS per pgbench run (10; smoke 1),
# BENCH_RUNS (3; smoke 1), BENCH_DOCTORS (1000; smoke 20),
# BENCH_SLOTS_PER_DOCTOR (1000), GROWTH_SLOTS (slots after the growth,
# 10000000; smoke 60000), GROWTH_PAST_BOOKINGS (5000000; smoke
# 20000), GROWTH_SWEEP_HOLDS ("10000 100000 1000000"; smoke "200 1000 5000":
# on the large tables; the small ones get those that fit), BENCH_CLIENTS (8),
# BENCH_AVAIL_CLIENTS (8), BENCH_PORT (55600), BENCH_OUT (bench/GROWTH.md;
# smoke: a file in the scratch folder), BENCH_QUIET_WAIT (30; smoke 0), as in
# bench/run.sh, MR_KEEP=1 keeps the scratch folder.  MR_PG_CONFIG=<pg_config
# of a private installation> (tools/private-pg.sh) builds and runs there.
source "$(dirname "$0")/../tools/lib.sh"
source "$(dirname "$0")/lib.sh"

bench_arguments "$@"

if [ $smoke = 1 ]; then
    d_seconds=1 d_runs=1 d_doctors=20 d_per_doctor=1000 d_slots=60000 d_past=20000
    d_sweeps="200 1000 5000" d_quiet=0
else
    d_seconds=10 d_runs=3 d_doctors=1000 d_per_doctor=1000 d_slots=10000000 d_past=5000000
    d_sweeps="10000 100000 1000000" d_quiet=30
fi
QUIET_WAIT=${BENCH_QUIET_WAIT:-$d_quiet}
SECS=${BENCH_SECONDS:-$d_seconds}
RUNS=${BENCH_RUNS:-$d_runs}
DOCTORS=${BENCH_DOCTORS:-$d_doctors}
PER_DOCTOR=${BENCH_SLOTS_PER_DOCTOR:-$d_per_doctor}
GROWN_SLOTS=${GROWTH_SLOTS:-$d_slots}
PAST=${GROWTH_PAST_BOOKINGS:-$d_past}
SWEEPS=${GROWTH_SWEEP_HOLDS:-$d_sweeps}
CLIENTS=${BENCH_CLIENTS:-8}
AVAIL_CLIENTS=${BENCH_AVAIL_CLIENTS:-8}
PORT_FROM=${BENCH_PORT:-55600}

command_line="bash bench/growth.sh${*:+ $*}"
for v in BENCH_SMOKE BENCH_SECONDS BENCH_RUNS BENCH_DOCTORS BENCH_SLOTS_PER_DOCTOR GROWTH_SLOTS \
         GROWTH_PAST_BOOKINGS GROWTH_SWEEP_HOLDS BENCH_CLIENTS BENCH_AVAIL_CLIENTS BENCH_PORT BENCH_QUIET_WAIT; do
    [ -n "${!v:-}" ] && command_line="$v='${!v}' $command_line"
done

# the sizes: past slots (one booking each) and more future slots per doctor
SMALL_SLOTS=$((DOCTORS * PER_DOCTOR))
PAST_PER_DOCTOR=$((PAST / DOCTORS))
MORE_PER_DOCTOR=$(( (GROWN_SLOTS - PAST) / DOCTORS - PER_DOCTOR ))
if [ $((PAST_PER_DOCTOR * DOCTORS)) -ne "$PAST" ] || [ "$MORE_PER_DOCTOR" -lt 0 ] \
   || [ $(( (PAST_PER_DOCTOR + PER_DOCTOR + MORE_PER_DOCTOR) * DOCTORS )) -ne "$GROWN_SLOTS" ]; then
    echo "GROWTH_SLOTS ($GROWN_SLOTS) and GROWTH_PAST_BOOKINGS ($PAST) must split evenly over $DOCTORS doctors," >&2
    echo "with at least BENCH_SLOTS_PER_DOCTOR ($PER_DOCTOR) future slots each" >&2
    exit 2
fi
for n in $SWEEPS; do
    if [ $((2 * n)) -gt $(( (PER_DOCTOR + MORE_PER_DOCTOR) * DOCTORS )) ]; then
        echo "a sweep of $n holds needs $((2 * n)) future slots; the grown tables have $(( (PER_DOCTOR + MORE_PER_DOCTOR) * DOCTORS ))" >&2
        exit 2
    fi
done

mr_install_packages
mr_build_install

# the GiST rebuild of the exclusion constraint wants memory (SET in the load)
bench_start "$PORT_FROM" GROWTH.md "max_wal_size = '4GB'"
bench_context

# reset_future: no bookings of future slots (the past ones stay), their
# slots' state back to empty; then VACUUM, as reset_bookings does.  With no
# past bookings (the small tables) it is reset_bookings itself, as in
# bench/run.sh: a VACUUM of the emptied bookings tables would record them as
# empty (reltuples 0), and the kept plans of the foreign-key checks and the
# event's lookup would then scan them whole, slower with every booking of
# the run (measured: 1904 tps against 5836 in bench/run.sh on the same 1M
# slots, with a third of the bookings per CPU-second).
reset_future() {
    if [ "$(q -c "SELECT NOT EXISTS (SELECT 1 FROM medreserve.bookings WHERE starts_at <= now())")" = t ]; then
        reset_bookings
        return
    fi
    q -c "SET session_replication_role = replica" \
      -c "DELETE FROM medreserve.booking_slots bs USING medreserve.bookings b
           WHERE b.id = bs.booking_id AND b.starts_at > now()" \
      -c "DELETE FROM medreserve.bookings WHERE starts_at > now()" \
      -c "UPDATE medreserve.slots SET seats_confirmed = 0, seats_held = 0, hold_lapses_at = NULL
           WHERE start_time > now() AND seats_confirmed + seats_held > 0" \
      -c "RESET session_replication_role" \
      -c "VACUUM medreserve.slots, medreserve.bookings, medreserve.booking_slots" -c "CHECKPOINT"
}

# ---------------------------------------------------------------------------
mr_say "loading the schedule: $DOCTORS doctors x $PER_DOCTOR slots (bench/sql/load_schedule.sql, as bench/run.sh)"
bench_load_schedule "$DOCTORS" "$PER_DOCTOR"
bench_week
sample_doctor=$(( (DMIN + DMAX) / 2 ))

# book SIZE: RUNS pgbench runs of medreserve_book on the first
# $SMALL_SLOTS slots (the same slots at both sizes), each after reset_future
book() {
    local size=$1 stride=$((SMALL_SLOTS / CLIENTS)) above
    for run in $(seq 1 "$RUNS"); do
        reset_future
        above=$(q -c "SELECT coalesce(max(id), 0) FROM medreserve.bookings")
        if pgb book_medreserve "$CLIENTS" -D n=0 -D first="$FIRST" -D stride="$stride"; then
            record book "$CLIENTS" "$size" "$run" "$PGB_TPS" tps
            check_bookings "book, $size tables, run $run" "$PGB_TXNS" "$CLIENTS" CONFIRMED "$above"
            [ "$run" != 1 ] || verify_after "book, $size tables, run $run"
        else
            check "book, $size tables, run $run: no client aborted" 1
            echo "#   (\"already booked\" means a client ran out of its $stride slots: more slots or fewer seconds)"
        fi
    done
    reset_future
}

# available SIZE: RUNS pgbench runs of one random doctor's week
available() {
    local size=$1
    check "availability, $size tables: medreserve_available_slots() lists the free slots of the week (5 doctors)" "$(q -c "
        SELECT bool_and(a.ids IS NOT DISTINCT FROM t.ids) FROM generate_series($DMIN, $DMIN + 4) AS doc,
          LATERAL (SELECT array_agg(id ORDER BY start_time) AS ids
                     FROM medreserve_available_slots(doc, '$FROM_TS', '$UNTIL_TS')) AS a,
          LATERAL (SELECT array_agg(s.id ORDER BY s.start_time) AS ids FROM medreserve.slots s
                    WHERE s.doctor_id = doc AND s.start_time >= '$FROM_TS' AND s.start_time < '$UNTIL_TS'
                      AND s.start_time > now()
                      AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs
                                        JOIN medreserve.bookings b ON b.id = bs.booking_id
                                       WHERE bs.slot_id = s.id
                                         AND medreserve.booking_is_live(b.status, b.expires_at))) AS t")"
    for run in $(seq 1 "$RUNS"); do
        if pgb available_medreserve "$AVAIL_CLIENTS" -D dmin="$DMIN" -D dmax="$DMAX" -D from="$FROM_TS" -D until="$UNTIL_TS"; then
            record available "$AVAIL_CLIENTS" "$size" "$run" "$PGB_TPS" "queries/s"
            check "available, $size tables, run $run: no client aborted" 0
        else
            check "available, $size tables, run $run: no client aborted" 1
        fi
    done
}

# sweep SIZE HOLDS: a backlog of HOLDS lapsed holds (and HOLDS/10 live ones)
# settled by medreserve_expire(), timed; checks every one FAILED and released
sweep() {
    local size=$1 holds=$2 runs=$RUNS n_failed n_unreleased n_live
    [ "$holds" -lt 1000000 ] || runs=1   # a million takes minutes to load
    for run in $(seq 1 "$runs"); do
        reset_future
        q -v holds="$holds" -f "$BENCH_DIR/sql/growth_backlog.sql"
        time_sql "SELECT medreserve_expire()"
        record sweep "$holds" "$size" "$run" "$TIMED_MS" ms
        read -r n_failed n_unreleased n_live <<<"$(q -F ' ' -c "
            SELECT count(*) FILTER (WHERE b.status = 'FAILED'),
                   count(*) FILTER (WHERE b.status = 'FAILED' AND EXISTS (
                       SELECT 1 FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id)),
                   count(*) FILTER (WHERE medreserve.booking_is_live(b.status, b.expires_at) AND EXISTS (
                       SELECT 1 FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id))
              FROM medreserve.bookings b WHERE b.starts_at > now()")"
        printf '   %-6s tables %8d holds  %10.1f ms  %6.2f ms per 1000 holds\n' \
            "$size" "$holds" "$TIMED_MS" "$(echo "$TIMED_MS * 1000 / $holds" | bc -l)"
        check "sweep of $holds holds, $size tables, run $run: all FAILED, every slot released, the $((holds / 10)) live holds kept" \
            "$( [ "$n_failed" -eq "$holds" ] && [ "$n_unreleased" -eq 0 ] && [ "$n_live" -eq $((holds / 10)) ] \
                && [ "$TIMED_RESULT" = "$holds" ]; echo $?)"
        check "sweep of $holds holds, $size tables, run $run: no held seat left on the swept slots" "$(q -c "
            SELECT count(*) = $((holds / 10)) FROM medreserve.slots WHERE start_time > now() AND seats_held > 0")"
    done
}

# sweep_empty SIZE: medreserve_expire() with nothing to settle: the fixed
# cost of a sweep (its other steps: no-shows, event retention, statistics)
sweep_empty() {
    local size=$1
    reset_future
    for run in $(seq 1 "$RUNS"); do
        time_sql "SELECT medreserve_expire()"
        record sweep 0 "$size" "$run" "$TIMED_MS" ms
        printf '   %-6s tables        0 holds  %10.1f ms\n' "$size" "$TIMED_MS"
        check "empty sweep, $size tables, run $run: settles nothing" "$( [ "$TIMED_RESULT" = 0 ]; echo $?)"
    done
}

# ---------------------------------------------------------------------------
mr_say "1 small tables ($NSLOTS slots): booking, $CLIENTS clients"
book small
for n in $SWEEPS; do
    if [ $((2 * n)) -le "$SMALL_SLOTS" ] && [ "$n" -lt 1000000 ]; then
        mr_say "1 small tables: sweep of $n lapsed holds"
        sweep small "$n"
    fi
done
sweep_empty small
verify_after "sweeps on the small tables"
mr_say "1 small tables: availability of one doctor's week, $AVAIL_CLIENTS clients (bench/sql/realistic_bookings.sql)"
q -f "$BENCH_DIR/sql/realistic_bookings.sql"
verify_after "realistic bookings loaded"
available small

# ---------------------------------------------------------------------------
mr_say "2 growing to $GROWN_SLOTS slots and $PAST past bookings (bench/sql/growth_load.sql)"
load_log=$MR_WORK/growth_load.out
t0=$(date +%s.%N)
q -v doctors="$DOCTORS" -v per_doctor="$PER_DOCTOR" -v past_per_doctor="$PAST_PER_DOCTOR" \
  -v more_per_doctor="$MORE_PER_DOCTOR" -f "$BENCH_DIR/sql/growth_load.sql" > "$load_log"
grow_seconds=$(echo "$(date +%s.%N) - $t0" | bc)
# each step's time: "step NAME" then psql's "Time: N ms" for its statement
load_steps=$(awk '/^step / { name = $2 } /^Time: / && name { printf "| %s | %.1f s |\n", name, $2 / 1000; name = "" }' "$load_log")
printf '%s\n' "$load_steps" | sed 's/^/   /'
t0=$(date +%s.%N)
q -c "VACUUM ANALYZE medreserve.slots, medreserve.bookings, medreserve.booking_slots" -c "CHECKPOINT"
vacuum_seconds=$(echo "$(date +%s.%N) - $t0" | bc)
printf '   loaded in %.0f s, then VACUUM ANALYZE in %.0f s\n' "$grow_seconds" "$vacuum_seconds"
read -r n_slots n_past n_past_live n_past_slots <<<"$(q -F ' ' -c "
    SELECT (SELECT count(*) FROM medreserve.slots),
           (SELECT count(*) FROM medreserve.bookings WHERE starts_at < now()),
           (SELECT count(*) FROM medreserve.bookings WHERE starts_at < now() AND status <> 'CANCELLED'),
           (SELECT count(*) FROM medreserve.booking_slots bs JOIN medreserve.slots s ON s.id = bs.slot_id
             WHERE s.start_time < now())")"
check "grown: $n_slots slots, $n_past past bookings ($n_past_live live, each with its booking_slots row)" \
    "$( [ "$n_slots" -eq "$GROWN_SLOTS" ] && [ "$n_past" -eq "$PAST" ] && [ "$n_past_slots" -eq "$n_past_live" ]; echo $?)"
check "grown: the exclusion constraint is back and valid" "$(q -c "
    SELECT count(*) = 1 FROM pg_constraint
     WHERE conrelid = 'medreserve.slots'::regclass AND conname = 'slots_no_overlap' AND contype = 'x' AND convalidated")"
verify_after "grown tables"
status_mix=$(q -c "SELECT string_agg(format('%s %s', count, status), ', ' ORDER BY count DESC)
                     FROM (SELECT status, count(*) FROM medreserve.bookings WHERE starts_at < now() GROUP BY 1) AS t")
table_sizes=$(q -c "SELECT format('| %s | %s | %s | %s |', c.relname, c.reltuples::bigint,
                                  pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)))
                      FROM pg_class c WHERE c.oid IN ('medreserve.slots'::regclass, 'medreserve.bookings'::regclass,
                                                      'medreserve.booking_slots'::regclass)
                     ORDER BY c.relname")

# ---------------------------------------------------------------------------
mr_say "3 large tables: availability of one doctor's week, $AVAIL_CLIENTS clients (the same bookings)"
available large
mr_say "3 large tables: booking, $CLIENTS clients (the same slots)"
book large
for n in $SWEEPS; do
    mr_say "3 large tables: sweep of $n lapsed holds"
    sweep large "$n"
done
sweep_empty large
verify_after "sweeps on the large tables"

# ---------------------------------------------------------------------------
mr_say "report"
judge=true; [ $smoke = 1 ] && judge=false
ratio_table=$(q -c "
WITH med AS (
    SELECT case_name, clients, variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median,
           min(unit) AS unit
      FROM bench.results GROUP BY 1, 2, 3)
SELECT format('| %s | %s | %s %s | %s %s | **%s** | >= 0.85x | %s |', s.case_name, s.clients,
              round(s.median::numeric, 1), s.unit, round(l.median::numeric, 1), l.unit,
              to_char(l.median / NULLIF(s.median, 0), 'FM990.00') || 'x',
              CASE WHEN NOT $judge THEN 'not judged (smoke)'
                   WHEN l.median / NULLIF(s.median, 0) >= 0.85 THEN 'met' ELSE 'MISSED' END)
  FROM med s JOIN med l ON l.case_name = s.case_name AND l.clients = s.clients AND l.variant = 'large'
 WHERE s.variant = 'small' AND s.case_name IN ('book', 'available')
 ORDER BY s.case_name DESC")
sweep_table=$(q -c "
WITH med AS (
    SELECT variant, clients AS holds, count(*) AS runs, min(value) AS lo, max(value) AS hi,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS ms
      FROM bench.results WHERE case_name = 'sweep' GROUP BY 1, 2)
SELECT format('| %s | %s | %s | %s ms | %s | %s | %s |', m.variant, m.holds, m.runs, round(m.ms::numeric, 1),
              CASE WHEN m.holds > 0 THEN round((m.ms * 1000 / m.holds)::numeric, 2) || ' ms' ELSE '-' END,
              CASE WHEN m.holds > 0 THEN round(((m.ms - e.ms) * 1000 / m.holds)::numeric, 2) || ' ms' ELSE '-' END,
              round(m.lo::numeric, 1) || ' .. ' || round(m.hi::numeric, 1))
  FROM med m LEFT JOIN med e ON e.variant = m.variant AND e.holds = 0
 ORDER BY m.variant DESC, m.holds")
# per-hold time ratios: largest/smallest backlog on the large tables; large/small tables per backlog
sweep_ratios=$(q -c "
WITH med AS (
    SELECT variant, clients AS holds, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS ms
      FROM bench.results WHERE case_name = 'sweep' GROUP BY 1, 2),
per AS (
    SELECT m.variant, m.holds, m.ms / m.holds AS per_hold, (m.ms - e.ms) / m.holds AS marginal
      FROM med m JOIN med e ON e.variant = m.variant AND e.holds = 0 WHERE m.holds > 0),
lo AS (SELECT * FROM per WHERE variant = 'large' ORDER BY holds LIMIT 1),
hi AS (SELECT * FROM per WHERE variant = 'large' ORDER BY holds DESC LIMIT 1)
SELECT format('| linear in the holds: per hold at %s / per hold at %s holds, large tables | **%s** |',
              hi.holds, lo.holds, to_char(hi.per_hold / NULLIF(lo.per_hold, 0), 'FM990.00') || 'x')
  FROM lo, hi
UNION ALL
SELECT format('| the same, marginal (fixed cost left out) | **%s** |',
              to_char(hi.marginal / NULLIF(lo.marginal, 0), 'FM990.00') || 'x')
  FROM lo, hi
UNION ALL
SELECT format('| not with the table: per hold on the large / on the small tables, %s holds | **%s** |',
              s.holds, to_char(l.per_hold / NULLIF(s.per_hold, 0), 'FM990.00') || 'x')
  FROM per s JOIN per l ON l.holds = s.holds AND l.variant = 'large' WHERE s.variant = 'small'")
settings=$(bench_settings)
pg_version=$(q -c "SELECT version()")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)
finished_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

{
    echo "# medreserve benchmark: growth"
    echo
    [ $smoke = 1 ] && { echo "**Smoke run: tiny tables, one short run of each step; the numbers mean nothing.**"; echo; }
    echo "Generated by \`$command_line\` (bench/growth.sh), $started_at to $finished_at."
    echo "Issue 11's growth goal: with 10 million slots and 5 million past bookings in the"
    echo "tables, booking throughput and availability stay >= 0.85x of their figures on the"
    echo "1-million-slot schedule, and the sweep's time grows linearly with the lapsed holds it"
    echo "settles, not with the table.  Same cluster, same run: the small tables are measured"
    echo "first, then grown in place."
    echo
    echo "## Machine and server"
    echo
    echo "- machine: $(nproc) CPUs ($cpu_model), $mem_total memory, Linux $(uname -r)"
    echo "- load average when the run started: $load_at_start, when it ended: $load_at_end; other PostgreSQL"
    echo "  servers running: $other_servers; measurements that started while the CPUs were still more"
    echo "  than 15% busy after a ${QUIET_WAIT} s wait: $busy_starts of $measurements"
    echo "- server: $pg_version"
    echo "- medreserve: $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'medreserve'") built from commit $revision"
    echo "- a throwaway cluster (initdb -E UTF8 --locale=C.UTF-8, max_wal_size 4GB), clients over the"
    echo "  Unix socket; pgbench -M prepared, -j 2, $SECS s per run, $RUNS runs per case (the sweep of"
    echo "  a million holds: one run); bookings of future slots deleted, VACUUM and CHECKPOINT before"
    echo "  each booking run and each sweep backlog"
    echo
    echo "| setting | value | source |"
    echo "|---|---|---|"
    echo "$settings"
    echo
    echo "## Tables"
    echo
    echo "- small: $DOCTORS doctors x $PER_DOCTOR future slots = $SMALL_SLOTS slots (bench/sql/load_schedule.sql,"
    echo "  through the constraints and triggers, as bench/run.sh), loaded in $(printf '%.0f' "$load_seconds") s"
    echo "- large: grown in place to $n_slots slots: $PAST_PER_DOCTOR past and $((PER_DOCTOR + MORE_PER_DOCTOR)) future"
    echo "  slots per doctor, $n_past past bookings ($status_mix), by bench/sql/growth_load.sql in"
    echo "  $(printf '%.0f' "$grow_seconds") s, then VACUUM ANALYZE in $(printf '%.0f' "$vacuum_seconds") s.  The load is set-based"
    echo "  (INSERT ... SELECT in id order), skips the per-row foreign-key and event triggers"
    echo "  (session_replication_role = replica; the rows are valid by construction and carry"
    echo "  their slot state), and **drops the exclusion constraint \`slots_no_overlap\` (GiST) and"
    echo "  re-makes it afterwards** (checked row by row it cost five times more per row than"
    echo "  its rebuild in a trial with 200,000 slots)."
    echo "  medreserve_verify() finds nothing afterwards."
    echo
    echo "| load step | time |"
    echo "|---|---|"
    echo "$load_steps"
    echo
    echo "| table (large) | rows | heap | indexes |"
    echo "|---|---|---|---|"
    echo "$table_sizes"
    echo
    echo "- availability reads the week from $FROM_TS of a random doctor among $DOCTORS, with the"
    echo "  bookings of bench/sql/realistic_bookings.sql on the future slots of the small schedule"
    echo "  (35% confirmed, 5% held, 5% lapsed holds), kept through the growth; booking walks the"
    echo "  same $SMALL_SLOTS future slots at both sizes, each client its own range"
    echo "- the sweep's backlog (bench/sql/growth_backlog.sql): N lapsed holds on every other free"
    echo "  future slot, N/10 live holds between them; medreserve_expire() with the default"
    echo "  batch size, in one transaction, timed by psql"
    echo
    echo "## Booking and availability: large / small tables"
    echo
    echo "| case | clients | small (median) | large (median) | ratio | target | verdict |"
    echo "|---|---|---|---|---|---|---|"
    echo "$ratio_table"
    echo
    echo "## The sweep: time per lapsed hold"
    echo
    echo "The time per 1000 holds includes the sweep's fixed cost (the row with 0 holds: the"
    echo "same call with nothing to settle); the marginal time leaves it out: (time - time at 0"
    echo "holds) per 1000 holds."
    echo
    echo "| tables | lapsed holds | runs | time (median) | per 1000 holds | marginal per 1000 | min .. max |"
    echo "|---|---|---|---|---|---|---|"
    echo "$sweep_table"
    echo
    echo "| ratio of the per-hold times (1.00x = linear) | |"
    echo "|---|---|"
    echo "$sweep_ratios"
    echo
    echo "## Checks"
    echo
    echo "$passed passed, $failed failed: medreserve_verify() found nothing after each step (small"
    echo "tables booked, swept, with the week's bookings; grown; large tables booked and swept), no"
    echo "pgbench client aborted, each booking run left one booking per transaction, each sweep"
    echo "marked every lapsed hold FAILED, released its seat and kept the live holds."
} > "$OUT.new"
bench_keep_analysis

echo
echo "| case | clients | small (median) | large (median) | ratio | target | verdict |"
echo "|---|---|---|---|---|---|---|"
echo "$ratio_table"
echo
echo "$sweep_table"
echo "$sweep_ratios"
echo
echo "results: $OUT"
bench_finish
