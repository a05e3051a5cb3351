# 100,000 API calls in one backend do not grow its memory, and the
# extension's SQL statements are prepared once per backend.
#
# One session (one backend) calls a PL/pgSQL procedure that loops over a
# small pool of slots doing, per round of 16 calls: book; book the same slot
# again (23505, caught); cancel; hold; confirm; confirm again (PT409,
# caught); cancel; book two slots; cancel; hold with a bad email (22023,
# caught); book a missing slot (PT404, caught); cancel a cancelled booking
# (PT409, caught); book a NULL slot (22004, caught); a hold that lapses (its
# expiry moved back) released by the next booking; and every 10th round a
# hold swept by medreserve_expire().  That exercises every kept plan of
# plans.c, the error paths and the counters.  The procedure commits every
# 1,000 calls and samples the backend's pg_backend_memory_contexts after
# each 10,000.
#
# Checks, after a warm-up of 1,000 calls: the backend's memory grows by less
# than MR_MEMORY_TOLERANCE bytes (1 MB); the samples inside the run stay
# within it too; the CachedPlanSource contexts are the same set before and
# after; each of the extension's statements, found by the tag comment
# plans.c puts before its text ("/* medreserve: <name> */"), has exactly
# one; the CachedPlan count grows by at most one per kept statement.  Part
# two runs 20,000 calls inside ONE transaction, each in a savepoint, and
# compares the growth of TopTransactionContext with a control loop of plain
# INSERTs in savepoints: what the extension adds must stay under the
# tolerance as well.
#
# Environment: MR_MEMORY_CALLS (100000), MR_MEMORY_WARMUP (1000),
# MR_MEMORY_TOLERANCE (1048576), MR_MEMORY_SAVEPOINT_PAIRS (10000).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $calls     = $ENV{MR_MEMORY_CALLS}     // 100000;
my $warmup    = $ENV{MR_MEMORY_WARMUP}    // 1000;
my $tolerance = $ENV{MR_MEMORY_TOLERANCE} // 1048576;
my $pairs     = $ENV{MR_MEMORY_SAVEPOINT_PAIRS} // 10000;
my $db = 'clinic';
note "memory: $calls calls after a warm-up of $warmup, tolerance $tolerance bytes";

# the statements of src/plans.c, by the names their tag comments carry
# (issue 11: the sweep and the lazy release settle holds through 'lock slots
# of bookings' and 'settle lapsed holds'; confirm and cancel read the
# booking's slots to lock them first)
my @statements = ('book unused slot', 'cancel booking', 'confirm booking', 'find lapsed holds', 'find lapsed holds on slots',
	'insert booking', 'insert event', 'lock slots', 'lock slots of bookings', 'note sweep', 'prune events',
	'prune idempotency keys', 'read booking state', 'read slot ids of booking', 'release lapsed seats',
	'settle lapsed holds');

my $node = medreserve_node('memory', dbname => $db, conf => "log_statement = none\nlog_min_messages = fatal\n");
$node->safe_psql($db, q{
INSERT INTO medreserve.doctors (name) VALUES ('Dr Memory');
INSERT INTO medreserve.slots (doctor_id, start_time)
SELECT 1, date_trunc('hour', now()) + interval '1 day' + k * interval '15 minutes' FROM generate_series(0, 199) k;

CREATE SCHEMA mem;
CREATE TABLE mem.samples (calls int, bytes bigint, contexts int, plan_sources int, plans int);

-- The extension's kept statements, by the name in their tag comment.
CREATE VIEW mem.extension_plans AS
SELECT substring(ident FROM '^/\* medreserve: (.*?) \*/') AS statement, count(*) AS contexts
  FROM pg_backend_memory_contexts
 WHERE name = 'CachedPlanSource' AND ident LIKE '/* medreserve: %'
 GROUP BY 1;

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
$$;});

# One session: warm up, measure, run, measure.
my $session = $node->background_psql($db);
my $measure = q{SELECT sum(total_bytes) || ' ' || count(*) || ' ' || count(*) FILTER (WHERE name = 'CachedPlanSource')
                       || ' ' || count(*) FILTER (WHERE name = 'CachedPlan') FROM pg_backend_memory_contexts};
my $backend = $session->query_safe('SELECT pg_backend_pid()');
$session->query_safe("CALL mem.run($warmup, $warmup)");    # one sample, so the sampling statements are prepared too
$session->query_safe(q{
	DELETE FROM mem.samples;
	CREATE TEMP TABLE plan_set_before AS
	    SELECT ident, count(*) AS n FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident;
	CREATE TEMP TABLE ext_plans_before AS SELECT * FROM mem.extension_plans;});
my ($before, $ctx_before, $sources_before, $plans_before) = split / /, $session->query_safe($measure);
$session->query_safe("CALL mem.run($calls, 10000)");
my ($after, $ctx_after, $sources_after, $plans_after) = split / /, $session->query_safe($measure);
is($session->query_safe('SELECT pg_backend_pid()'), $backend, "one backend ($backend) made $warmup + $calls calls");
note "backend memory after warm-up: $before bytes in $ctx_before contexts ($sources_before CachedPlanSource, $plans_before CachedPlan)";
note "backend memory after $calls calls: $after bytes in $ctx_after contexts ($sources_after CachedPlanSource, $plans_after CachedPlan)";
note 'largest contexts at the end: ' . $session->query_safe(q{
	SELECT string_agg(name || ' ' || total_bytes, ', ' ORDER BY total_bytes DESC)
	  FROM (SELECT name, sum(total_bytes) AS total_bytes FROM pg_backend_memory_contexts
	         GROUP BY name ORDER BY 2 DESC LIMIT 5) t});
cmp_ok($after - $before, '<', $tolerance,
	"the backend's memory grew by less than $tolerance bytes over $calls calls ($before -> $after)");

my ($smin, $smax, $nsamples) = split /\|/, $node->safe_psql($db, 'SELECT min(bytes), max(bytes), count(*) FROM mem.samples');
note 'samples inside the run, every 10,000 calls: ' . $node->safe_psql($db, q{SELECT string_agg(bytes::text, ' ' ORDER BY calls) FROM mem.samples});
cmp_ok($nsamples, '>=', int($calls / 10000) - 1, "$nsamples samples were taken inside the run");
cmp_ok($smax - $smin, '<', $tolerance, "the samples inside the run stay within $tolerance bytes of each other");

is($session->query_safe(q{
	SELECT coalesce(string_agg(replace(left(ident, 60), E'\n', ' '), ' | '), '')
	  FROM ((SELECT * FROM plan_set_before
	         EXCEPT ALL SELECT ident, count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident)
	        UNION ALL
	        (SELECT ident, count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' GROUP BY ident
	         EXCEPT ALL SELECT * FROM plan_set_before)) d}),
	'', "no statement was prepared again: the $sources_after CachedPlanSource contexts are the same before and after");
my $want = join(', ', map { "$_ 1" } @statements);
is($session->query_safe(q{SELECT string_agg(statement || ' ' || contexts, ', ' ORDER BY statement) FROM ext_plans_before}),
	$want, 'after the warm-up each of the extension\'s ' . scalar(@statements) . ' statements has exactly one kept plan');
is($session->query_safe(q{SELECT string_agg(statement || ' ' || contexts, ', ' ORDER BY statement) FROM mem.extension_plans}),
	$want, 'and still exactly one after the run');
# A kept statement builds its one generic plan on its first execution, which
# may come after the warm-up: at most one more CachedPlan per kept statement.
cmp_ok($plans_after, '<=', $plans_before + scalar(@statements),
	"the CachedPlan contexts grew by at most one per kept statement ($plans_before -> $plans_after)");
$session->quit;

# Part two: one transaction, each call in its own savepoint (as psql's
# ON_ERROR_ROLLBACK or an ORM's nested atomic blocks do).  Memory of the
# transaction may grow with the number of subtransactions, as PostgreSQL's
# own bookkeeping does (a control loop of plain INSERTs measures that);
# what the extension adds on top must stay under the tolerance too.
my ($control, $booked) = split /\|/, $node->safe_psql($db, qq{
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
SELECT control, booked FROM growth;});
note "one transaction: TopTransactionContext grew $control bytes over " . (2 * $pairs)
  . " plain INSERT savepoints, $booked bytes over " . (2 * $pairs) . ' book/cancel savepoints';
cmp_ok($booked - $control, '<', $tolerance,
	'in one transaction, ' . (2 * $pairs) . ' calls in savepoints grow its memory by less than the tolerance more than plain INSERTs do');

invariants_hold($node, $db, 'after the calls');
table_rules_hold($node, $db, 'after the calls');
is($node->safe_psql($db, q{SELECT count(*) FROM medreserve.bookings WHERE status IN ('PENDING', 'CONFIRMED')}),
	'0', 'every booking the loop made ended settled');
done_testing();
