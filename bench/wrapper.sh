#!/usr/bin/env bash
# bench/wrapper.sh: what the function boundary costs availability (issue 11).
#
#   PG_CONFIG=/path/to/pg_config bash bench/wrapper.sh     (about 7 minutes)
#
# bench/run.sh case 5 measures medreserve_available_slots() at 2.4x-3.1x the
# design's LEFT JOIN, and the statement inside it, run bare, at 3.2x-3.6x.
# This script splits the difference: the same statement in functions of
# other shapes (bench/sql/wrapper.sql), each variant next to the others in
# every run, BENCH_RUNS (3) runs of BENCH_SECONDS (8) at 8 clients, plus the
# same variants mixed in one pgbench run at one client (bench/lib.sh
# pgb_mixed), on the schedule and bookings of run.sh case 5 (1000 doctors x
# 1000 slots).  Writes the medians of the per-run ratios to BENCH_OUT
# (bench/WRAPPER.md) and ends with "N passed, M failed"; the checks are that
# every variant lists the same slots as medreserve_available_slots() and
# that no client aborted.  medreserve must already be installed for that
# PG_CONFIG (this script installs nothing); BENCH_PORT (57900).  --smoke: one
# run of a second on 100 doctors x 400 slots, the checks only (tools/test.sh).
source "$(dirname "$0")/../tools/lib.sh"
source "$(dirname "$0")/lib.sh"
bench_arguments "$@"
SECS=${BENCH_SECONDS:-8}; RUNS=${BENCH_RUNS:-3}; QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
DOCTORS=1000 PER_DOCTOR=1000
[ "$smoke" = 0 ] || { SECS=1; RUNS=1; QUIET_WAIT=0; DOCTORS=100; PER_DOCTOR=400; }
bench_start "${BENCH_PORT:-57900}" WRAPPER.md
mr_say "loading the schedule and case 5's bookings"
bench_load_schedule "$DOCTORS" "$PER_DOCTOR"
q -f "$BENCH_DIR/sql/realistic_bookings.sql"
q -f "$BENCH_DIR/sql/wrapper.sql"
bench_week
variants="design query_alone inlined medreserve no_set invoker sql_definer"
for v in inlined no_set invoker sql_definer; do
    check "$v lists the same slots as medreserve_available_slots() (5 doctors)" "$(q -c "
        SELECT bool_and(same) FROM (SELECT d, array(SELECT id FROM medreserve_available_slots(d, '$FROM_TS', '$UNTIL_TS'))
                                         = array(SELECT id FROM bench.av_$v(d, '$FROM_TS', '$UNTIL_TS')) AS same
                                    FROM generate_series($DMIN, $DMIN + 4) AS d) AS t")"
done
week=(-D dmin="$DMIN" -D dmax="$DMAX" -D from="$FROM_TS" -D until="$UNTIL_TS")
q -c "CREATE TABLE bench.wrapper (run int, clients int, variant text, value float8)"
scripts=(); for v in $variants; do scripts+=("available_$v"); done
for run in $(seq 1 "$RUNS"); do
    for v in $(in_order "$run" $variants); do
        if pgb "available_$v" 8 "${week[@]}"; then
            q -c "INSERT INTO bench.wrapper VALUES ($run, 8, '$v', $PGB_TPS)"
            check "$v, run $run: no client aborted" 0
        else
            check "$v, run $run: no client aborted" 1
        fi
    done
    if pgb_mixed 1 "${scripts[@]}" -- "${week[@]}"; then
        i=0
        for v in $variants; do q -c "INSERT INTO bench.wrapper VALUES ($run, 1, '$v', ${PGB_MIX[$i]})"; i=$((i + 1)); done
        check "mixed, run $run: no client aborted" 0
    else
        check "mixed, run $run: no client aborted" 1
    fi
done
{
    echo "# What the function boundary costs availability"
    echo
    echo "Written by \`bench/wrapper.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $(git -C "$MR_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown));"
    echo "$RUNS runs of ${SECS} s; 8 clients: queries/s; 1 client: all variants mixed in one run, 1 / mean latency."
    echo "Medians of the per-run ratios. Variants: \`design\` the design's LEFT JOIN; \`query_alone\` the"
    echo "statement of medreserve_available_slots() run bare; the others that statement in a function"
    echo "(bench/sql/wrapper.sql): \`inlined\` SQL, caller's rights, inlined by the planner; \`medreserve\`"
    echo "the shipped PL/pgSQL SECURITY DEFINER with a pinned search_path; \`no_set\` the same without the"
    echo "pinned search_path (unsafe, measured only); \`invoker\` pinned search_path, caller's rights;"
    echo "\`sql_definer\` medreserve's boundary in an SQL function."
    echo
    echo "| clients | variant | median | vs design | vs query_alone |"
    echo "|---|---|---|---|---|"
    q -c "SELECT format('| %s | %s | %s | %sx | %sx |', w.clients, w.variant,
                        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w.value)::numeric, 1),
                        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w.value / d.value)::numeric, 2),
                        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w.value / a.value)::numeric, 2))
            FROM bench.wrapper w
            JOIN bench.wrapper d ON d.run = w.run AND d.clients = w.clients AND d.variant = 'design'
            JOIN bench.wrapper a ON a.run = w.run AND a.clients = w.clients AND a.variant = 'query_alone'
           GROUP BY w.clients, w.variant
           ORDER BY w.clients DESC, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.value / d.value) DESC"
} > "$OUT.new"
bench_keep_analysis
cat "$OUT"
bench_finish
