#!/usr/bin/env bash
# memory.sh: 100,000 API calls in one backend do not grow its memory, and
# the extension's SQL statements are prepared once per backend.
#
# One psql session (one backend) on a throwaway cluster calls a PL/pgSQL
# procedure that loops over a small pool of slots doing, per round of 16
# calls: book; book the same slot again (23505, caught); cancel; hold;
# confirm; confirm again (PT409, caught); cancel; book two slots; cancel;
# hold with a bad email (22023, caught); book a missing slot (PT404,
# caught); cancel a cancelled booking (PT409, caught); book a NULL slot
# (22004, caught); a hold that lapses (its expiry moved back) released by
# the next booking; and every 10th round a hold swept by medreserve_expire().
# That exercises every kept plan of plans.c, the error paths and the
# counters.  The procedure commits every 1,000 calls (so the subtransactions
# of the caught refusals end) and samples sum(total_bytes) of
# pg_backend_memory_contexts for its own backend after each 10,000.
#
# Checks, after a warm-up of 1,000 calls: the backend's memory (measured at
# the top level, before and after, in the same session) grows by less than
# MR_MEMORY_TOLERANCE bytes (1 MB); the samples inside the run stay within it
# too; the CachedPlanSource contexts (one per prepared statement) are the
# same set before and after, each of the extension's statements exactly
# once; the CachedPlan count does not grow; and the tables' invariants hold.
# Part two runs 20,000 calls inside ONE transaction, each in a savepoint, and
# compares the growth of TopTransactionContext with a control loop of plain
# INSERTs in savepoints: what the extension adds must stay under the
# tolerance as well.
source "$(dirname "$0")/common.sh"

calls=${MR_MEMORY_CALLS:-100000}
warmup=${MR_MEMORY_WARMUP:-1000}
tolerance=${MR_MEMORY_TOLERANCE:-1048576}

trap mr_cleanup EXIT
trap 'exit 130' INT TERM
mr_make_workdir
port=$(mr_free_port 55500)
mr_cluster_start "$port" "shared_preload_libraries = 'medreserve'" "log_min_messages = fatal"
db=clinic
echo "# memory: port $port, $calls calls after a warm-up of $warmup, tolerance $tolerance bytes"

q -d postgres -c "CREATE DATABASE $db"
q -d $db <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION medreserve CASCADE;
INSERT INTO medreserve.doctors (name) VALUES ('Dr Memory');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, date_trunc('hour', now()) + interval '1 day' + k * interval '15 minutes' FROM generate_series(0, 199) k;

CREATE SCHEMA mem;
CREATE TABLE mem.samples (calls int, bytes bigint, contexts int, plan_sources int, plans int, taken_at timestamptz DEFAULT clock_timestamp());

-- The extension's statements (plans.c), recognised in the CachedPlanSource
-- contexts by a fragment of their text.
CREATE VIEW mem.extension_plans AS
SELECT f.fragment, count(c.*) AS contexts
  FROM unnest(ARRAY['AS started', 'AS lapsed', 'WITH failed AS', 'WITH occupied AS',
                    'SET status = ''CONFIRMED'', expires_at = NULL', 'WITH c AS',
                    'SELECT status, expires_at FROM', 'WITH lapsed AS']) f(fragment)
  LEFT JOIN pg_backend_memory_contexts c
    ON c.name = 'CachedPlanSource' AND position(f.fragment IN c.ident) > 0
 GROUP BY f.fragment;

CREATE PROCEDURE mem.run(calls int, sample_every int) LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;             -- calls made
    r int := 0;             -- rounds
    s int;
    b medreserve.bookings;
    h medreserve.bookings;
    next_commit int := 1000;
    next_sample int := sample_every;
BEGIN
    WHILE n < calls LOOP
        s := 1 + (r % 199);         -- slots s and s + 1 (1 .. 200)
        r := r + 1;
        b := medreserve_book(s, 'Mem Patient', 'mem@example.org');
        BEGIN
            PERFORM medreserve_book(s, 'Mem Other');
            RAISE EXCEPTION 'booking slot % twice succeeded', s;
        EXCEPTION WHEN unique_violation THEN NULL;
        END;
        PERFORM medreserve_cancel(b.id);
        h := medreserve_hold(s, 'Mem Holder', 'holder@example.org');
        PERFORM medreserve_confirm(h.id);
        BEGIN
            PERFORM medreserve_confirm(h.id);
            RAISE EXCEPTION 'confirming % twice succeeded', h.id;
        EXCEPTION WHEN SQLSTATE 'PT409' THEN NULL;
        END;
        PERFORM medreserve_cancel(h.id);
        b := medreserve_book(ARRAY[s + 1, s], 'Mem Pair');
        PERFORM medreserve_cancel(b.id);
        BEGIN
            PERFORM medreserve_hold(ARRAY[s], 'Mem Bad', 'not an email');
            RAISE EXCEPTION 'a bad email was accepted';
        EXCEPTION WHEN invalid_parameter_value THEN NULL;
        END;
        BEGIN
            PERFORM medreserve_book(999999, 'Mem Missing');
            RAISE EXCEPTION 'a missing slot was booked';
        EXCEPTION WHEN SQLSTATE 'PT404' THEN NULL;
        END;
        BEGIN
            PERFORM medreserve_cancel(b.id);
            RAISE EXCEPTION 'cancelling % twice succeeded', b.id;
        EXCEPTION WHEN SQLSTATE 'PT409' THEN NULL;
        END;
        BEGIN
            PERFORM medreserve_book(NULL::int, 'Mem Null');
            RAISE EXCEPTION 'a NULL slot was booked';
        EXCEPTION WHEN null_value_not_allowed THEN NULL;
        END;
        -- a hold that lapses, released by the next booking of its slot
        h := medreserve_hold(s, 'Mem Lapse');
        UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE id = h.id;
        b := medreserve_book(s, 'Mem After Lapse');
        PERFORM medreserve_cancel(b.id);
        n := n + 16;
        IF r % 10 = 0 THEN          -- a lapsed hold for the sweep
            h := medreserve_hold(s, 'Mem Sweep');
            UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE id = h.id;
            IF medreserve_expire() < 1 THEN
                RAISE EXCEPTION 'the sweep settled nothing';
            END IF;
            n := n + 2;
        END IF;
        IF n >= next_commit THEN
            COMMIT;
            next_commit := next_commit + 1000;
        END IF;
        IF n >= next_sample THEN
            COMMIT;
            INSERT INTO mem.samples (calls, bytes, contexts, plan_sources, plans)
            SELECT n, sum(total_bytes), count(*), count(*) FILTER (WHERE name = 'CachedPlanSource'),
                   count(*) FILTER (WHERE name = 'CachedPlan')
              FROM pg_backend_memory_contexts;
            COMMIT;
            next_sample := next_sample + sample_every;
        END IF;
    END LOOP;
    COMMIT;
END
$$;
SQL

# One session: warm up, measure, run, measure.
cat > "$MR_WORK/run.sql" <<SQL
\\set ON_ERROR_STOP 1
SELECT 'backend ' || pg_backend_pid();
CALL mem.run($warmup, $warmup);      -- one sample, so the sampling statements are prepared too
DELETE FROM mem.samples;
CREATE TEMP TABLE plan_set_before AS
    SELECT ident, count(*) AS n FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident;
CREATE TEMP TABLE ext_plans_before AS SELECT * FROM mem.extension_plans;
SELECT 'before ' || sum(total_bytes) || ' ' || count(*) || ' ' || count(*) FILTER (WHERE name = 'CachedPlanSource')
       || ' ' || count(*) FILTER (WHERE name = 'CachedPlan')
  FROM pg_backend_memory_contexts;
SELECT 'started ' || extract(epoch FROM clock_timestamp());
CALL mem.run($calls, 10000);
SELECT 'finished ' || extract(epoch FROM clock_timestamp());
SELECT 'after ' || sum(total_bytes) || ' ' || count(*) || ' ' || count(*) FILTER (WHERE name = 'CachedPlanSource')
       || ' ' || count(*) FILTER (WHERE name = 'CachedPlan')
  FROM pg_backend_memory_contexts;
SELECT 'plan sets differ by ' || count(*) || ' ' || coalesce(string_agg(replace(left(ident, 60), E'\n', ' '), ' | '), '')
  FROM ((SELECT * FROM plan_set_before
         EXCEPT ALL SELECT ident, count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident)
        UNION ALL
        (SELECT ident, count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident
         EXCEPT ALL SELECT * FROM plan_set_before)) d;
SELECT 'extension plans ' || string_agg(a.contexts::text, ',' ORDER BY a.fragment) || ' before ' || string_agg(b.contexts::text, ',' ORDER BY a.fragment)
  FROM mem.extension_plans a JOIN ext_plans_before b USING (fragment);
SELECT 'top ' || string_agg(name || ' ' || total_bytes, ', ' ORDER BY total_bytes DESC)
  FROM (SELECT name, sum(total_bytes) AS total_bytes FROM pg_backend_memory_contexts GROUP BY name ORDER BY 2 DESC LIMIT 5) t;
SELECT 'backend ' || pg_backend_pid();
SQL
rc=0
mr_as_pg "$PGBIN/psql" -X -q -At -d $db -f "$MR_WORK/run.sql" > "$MR_WORK/run.out" 2> "$MR_WORK/run.err" || rc=$?
field() { grep "^$1 " "$MR_WORK/run.out" | head -1 | cut -d' ' -f"$2"; }

if [ $rc -eq 0 ] && [ "$(grep -c '^backend ' "$MR_WORK/run.out")" = 2 ] \
   && [ "$(grep '^backend ' "$MR_WORK/run.out" | sort -u | wc -l)" = 1 ]; then
    report ok "one backend ($(field backend 2)) made $warmup + $calls calls in $(awk "BEGIN { printf \"%.1f\", $(field finished 2) - $(field started 2) }") s"
else
    report "not ok" "one backend made all the calls" "psql exit $rc: $(head -5 "$MR_WORK/run.err")"
    finish; exit 1
fi

before=$(field before 2); after=$(field after 2)
growth=$((after - before))
echo "# backend memory after warm-up: $before bytes in $(field before 3) contexts ($(field before 4) CachedPlanSource, $(field before 5) CachedPlan)"
echo "# backend memory after $calls calls: $after bytes in $(field after 3) contexts ($(field after 4) CachedPlanSource, $(field after 5) CachedPlan)"
echo "# largest contexts at the end: $(field top 2-)"
if [ $growth -lt "$tolerance" ]; then
    report ok "the backend's memory grew by $growth bytes over $calls calls (less than $tolerance): $before -> $after"
else
    report "not ok" "the backend's memory grew by less than $tolerance bytes over $calls calls" "$before -> $after: $growth bytes"
fi

read -r smin smax nsamples < <(q -F ' ' -d $db -c "SELECT min(bytes), max(bytes), count(*) FROM mem.samples")
echo "# samples inside the run, every 10,000 calls: $(q -d $db -c "SELECT string_agg(bytes::text, ' ' ORDER BY calls) FROM mem.samples")"
if [ "$nsamples" -ge 9 ] && [ $((smax - smin)) -lt "$tolerance" ]; then
    report ok "the $nsamples samples inside the run stay within $((smax - smin)) bytes of each other"
else
    report "not ok" "the samples inside the run stay within $tolerance bytes" "$nsamples samples, $smin .. $smax"
fi

if [ "$(field 'plan sets differ by' 5)" = 0 ]; then
    report ok "no statement was prepared again: the $(field after 4) CachedPlanSource contexts are the same before and after"
else
    report "not ok" "no statement was prepared again" "$(field 'plan sets differ by' 5-) (CachedPlanSource contexts that differ)"
fi
ext=$(field 'extension plans' 3); ext_before=$(field 'extension plans' 5)
if [ "$ext" = "1,1,1,1,1,1,1,1" ] && [ "$ext_before" = "$ext" ]; then
    report ok "each of the extension's 8 statements has exactly one kept plan, before and after"
else
    report "not ok" "each of the extension's 8 statements has exactly one kept plan" "after $ext, before $ext_before"
fi
# A kept statement builds its one generic plan on its first execution, which
# may come after the warm-up (the lazy-release path, say): at most one more
# CachedPlan per kept statement, never one per call.
if [ "$(field after 5)" -le $(( $(field before 5) + 8 )) ]; then
    report ok "the CachedPlan contexts grew by at most one per kept statement ($(field before 5) -> $(field after 5))"
else
    report "not ok" "the CachedPlan contexts grew by at most one per kept statement" "$(field before 5) -> $(field after 5)"
fi

# Part two: one transaction, each call in its own savepoint (as psql's
# ON_ERROR_ROLLBACK or an ORM's nested atomic blocks do).  Memory of the
# transaction may grow with the number of subtransactions, as PostgreSQL's
# own bookkeeping does (a control loop of plain INSERTs measures that);
# what the extension adds on top must stay under the tolerance too.
pairs=${MR_MEMORY_SAVEPOINT_PAIRS:-10000}
read -r control booked < <(q -F ' ' -d $db <<SQL
CREATE TEMP TABLE control_rows (x int);
CREATE TEMP TABLE growth (control bigint, booked bigint);
DO \$\$
DECLARE
    b medreserve.bookings;
    t0 bigint; t1 bigint; t2 bigint;
BEGIN
    SELECT sum(total_bytes) INTO t0 FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
    FOR i IN 1 .. 2 * $pairs LOOP
        BEGIN
            INSERT INTO control_rows VALUES (i);
        EXCEPTION WHEN OTHERS THEN RAISE;
        END;
    END LOOP;
    SELECT sum(total_bytes) INTO t1 FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
    FOR i IN 1 .. $pairs LOOP
        BEGIN
            b := medreserve_book(1 + i % 200, 'Savepoint Patient');
        EXCEPTION WHEN OTHERS THEN RAISE;
        END;
        BEGIN
            PERFORM medreserve_cancel(b.id);
        EXCEPTION WHEN OTHERS THEN RAISE;
        END;
    END LOOP;
    SELECT sum(total_bytes) INTO t2 FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
    INSERT INTO growth VALUES (t1 - t0, t2 - t1);
END
\$\$;
SELECT control, booked FROM growth;
SQL
)
echo "# one transaction: TopTransactionContext grew $control bytes over $((2 * pairs)) plain INSERT savepoints, $booked bytes over $((2 * pairs)) book/cancel savepoints"
if [ -n "$booked" ] && [ $((booked - control)) -lt "$tolerance" ]; then
    report ok "in one transaction, $((2 * pairs)) calls in savepoints grow its memory by $((booked - control)) bytes more than plain INSERTs do"
else
    report "not ok" "in one transaction, $((2 * pairs)) calls in savepoints grow its memory by less than $tolerance bytes more than plain INSERTs do" \
        "$booked bytes, against $control for the control loop: about $(( (${booked:-0} - ${control:-0}) / (2 * pairs) )) bytes per call, released only at commit"
fi

check_invariants "" -d $db
report_rows "" -d $db <<SQL
SELECT CASE WHEN count(*) FILTER (WHERE status IN ('PENDING', 'CONFIRMED')) = 0 THEN 'ok' ELSE 'not ok' END,
       format('every booking the loop made ended settled: %s bookings, %s', count(*),
              string_agg(DISTINCT status, '/')), ''
  FROM medreserve.bookings;
SQL
finish
