# Thousands of calls with hostile arguments to every API function; every
# answer is success or a documented SQLSTATE, and the server never falls over.
#
# t/data/hostile_calls.sql generates the calls (NULLs typed and untyped, 0,
# negative and extreme integers, integers beyond int4, 1 MB strings and a
# 1 MB literal, control characters, invalid UTF-8 and invalid Unicode
# escapes, SQL fragments, format strings, arrays of 10,000 ids, repeated ids,
# empty, 2-D and 3-D arrays, named arguments, impossible and infinite
# timestamps, out-of-range settings, a patient with every kind of JWT email
# claim) and says for each which SQLSTATEs it may get, and where the
# arguments decide it alone, exactly which one.  One backend runs them all,
# each in its own subtransaction (a PL/pgSQL procedure records the
# SQLSTATE), in chunks of 100 calls per transaction.
#
# Checks: every call was recorded; calls whose arguments reach the function
# got success or one of its documented SQLSTATEs (README, Errors); calls with
# a literal PostgreSQL itself rejects got that parser/input error; calls
# whose answer the arguments decide got exactly it; the shared-memory
# counters agree with the recorded answers; refused calls left no row; at
# REPEATABLE READ and SERIALIZABLE every changing call refuses with 25000;
# the postmaster and the backend are the same processes as before and the
# log shows no crash; the invariants and amcheck hold.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = 'clinic';
my $node = medreserve_node('hostile', dbname => $db,
	conf => "log_statement = none\nlog_min_error_statement = panic\n");
my $pm_before = $node->{_pid};
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $dir = PostgreSQL::Test::Utils::tempdir('hostile');

my $past_slot = $node->safe_psql($db, q{
	CREATE ROLE hostile_patient NOLOGIN IN ROLE medreserve_patient;
	INSERT INTO medreserve.doctors (name, specialization)
	VALUES ('Dr One', 'cardiology'), ('Dr Two', 'dermatology'), ('Dr Free', 'general');
	INSERT INTO medreserve.slots (doctor_id, start_time)
	SELECT d, date_trunc('hour', now()) + interval '1 day' + k * interval '15 minutes'
	  FROM (VALUES (1, 40), (2, 100), (3, 1000)) n(d, cnt), generate_series(0, cnt - 1) k ORDER BY d, k;
	-- 1 CONFIRMED, 2 PENDING, 3 FAILED, 4 CANCELLED, 5 PENDING lapsed
	SELECT medreserve_book(1, 'Ann Lee', 'ann@example.org') \g /dev/null
	SELECT medreserve_hold(5, 'Ann Lee', 'ann@example.org') \g /dev/null
	SELECT medreserve_hold(11, 'Ann Lee', 'ann@example.org') \g /dev/null
	UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE id = 3;
	SELECT medreserve_expire() \g /dev/null
	SELECT medreserve_cancel((medreserve_book(12, 'Ann Lee', 'ann@example.org')).id) \g /dev/null
	SELECT medreserve_hold(10, 'Ann Lee', 'ann@example.org') \g /dev/null
	UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE id = 5;
	INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() - interval '1 hour') RETURNING id;});
is($node->safe_psql($db, q{SELECT string_agg(id || ' ' || status, ', ' ORDER BY id) FROM medreserve.bookings}),
	'1 CONFIRMED, 2 PENDING, 3 FAILED, 4 CANCELLED, 5 PENDING', 'the set-up made bookings 1 to 5')
  or BAIL_OUT('the set-up failed');
my $setup_bookings = 5;

$node->safe_psql($db, q{
CREATE SCHEMA hostile;
CREATE TABLE hostile.calls (
    id serial PRIMARY KEY,
    fn text NOT NULL,
    role_sql text,          -- run first, in the same subtransaction (SET ROLE, claims)
    sql text NOT NULL,
    after_sql text,         -- run after, outside it (RESET of a setting)
    pre text[],             -- set: PostgreSQL itself must refuse an argument with one of these
    ok text[] NOT NULL,     -- the function's documented SQLSTATEs
    expect text);           -- the one SQLSTATE the arguments decide, if any
CREATE TABLE hostile.results (id int PRIMARY KEY, sqlstate text NOT NULL, message text, result text,
    invalid_counted bigint);   -- the refused_invalid_input counter after the call

CREATE PROCEDURE hostile.run(lo int, hi int) LANGUAGE plpgsql AS $$
DECLARE
    c hostile.calls;
    st text;
    msg text;
    res text;
BEGIN
    FOR c IN SELECT * FROM hostile.calls WHERE id BETWEEN lo AND hi ORDER BY id LOOP
        st := '00000'; msg := NULL; res := NULL;
        BEGIN
            IF c.role_sql IS NOT NULL THEN
                EXECUTE c.role_sql;
            END IF;
            IF c.sql ~* '^select' THEN
                EXECUTE c.sql INTO res;
            ELSE
                EXECUTE c.sql;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        END;
        IF c.role_sql IS NOT NULL THEN
            RESET ROLE;
            RESET request.jwt.claims;
        END IF;
        IF c.after_sql IS NOT NULL THEN
            EXECUTE c.after_sql;
        END IF;
        INSERT INTO hostile.results
        VALUES (c.id, st, left(msg, 300), left(res, 300),
                (SELECT refused_invalid_input FROM medreserve_counters()));
    END LOOP;
END
$$;});

my $tables = $node->safe_psql($db, q{SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_tables
                                       WHERE schemaname = 'medreserve'});
# the calls: psql variables :past_slot and :big_literal (1 MB of 'y', quoted)
PostgreSQL::Test::Utils::append_to_file("$dir/big_literal", "'" . ('y' x 1_000_000) . "'");
$node->safe_psql($db, "\\set big_literal `cat $dir/big_literal`\n"
	  . slurp_file("$FindBin::RealBin/data/hostile_calls.sql"),
	extra_params => [ '-v', "past_slot=$past_slot" ]);
my $ncalls = $node->safe_psql($db, 'SELECT count(*) FROM hostile.calls');
note "$ncalls calls generated: " . $node->safe_psql($db, q{
	SELECT string_agg(fn || ' ' || n, ', ' ORDER BY fn)
	  FROM (SELECT split_part(fn, ' ', 1) AS fn, count(*) AS n FROM hostile.calls GROUP BY 1) s});

# One backend runs every call, 100 per transaction.
my $script = "SELECT 'backend ' || pg_backend_pid();\n";
for (my $lo = 1; $lo <= $ncalls; $lo += 100) { $script .= "CALL hostile.run($lo, " . ($lo + 99) . ");\n" }
$script .= "SELECT 'backend ' || pg_backend_pid();\n";
my ($rc, $out, $err) = $node->psql($db, $script);
my %backends = map { $_ => 1 } grep { /^backend / } split /\n/, $out;
ok($rc == 0 && $err eq '' && keys(%backends) == 1, 'one backend ran every chunk and was never lost')
  or diag("psql exit $rc: $err");

$node->safe_psql($db, q{
CREATE VIEW hostile.judged AS
SELECT c.*, r.sqlstate, r.message, r.result,
       regexp_replace(c.sql, '\(SELECT min\(s\.id\) FROM .*? = s\.id\)\)', '<a free slot>') AS call,
       CASE WHEN r.id IS NULL THEN 'missing'
            WHEN c.pre IS NOT NULL THEN CASE WHEN r.sqlstate = ANY (c.pre) THEN 'ok' ELSE 'bad pre' END
            WHEN r.sqlstate <> '00000' AND NOT r.sqlstate = ANY (c.ok) THEN 'undocumented'
            WHEN c.expect IS NOT NULL AND r.sqlstate <> c.expect THEN 'unexpected'
            ELSE 'ok' END AS verdict
  FROM hostile.calls c LEFT JOIN hostile.results r USING (id);});

# what came back, by function and SQLSTATE
note $node->safe_psql($db, q{
	SELECT rpad(fn, 36) || string_agg(sqlstate || ' x' || n, ', ' ORDER BY sqlstate)
	  FROM (SELECT fn, sqlstate, count(*) AS n FROM hostile.judged WHERE verdict <> 'missing' GROUP BY 1, 2) s
	 GROUP BY fn ORDER BY fn});

rows_ok($node, $db, 'hostile calls', q{
	SELECT format('all %s calls ran and were recorded', count(*)),
	       CASE WHEN count(*) FILTER (WHERE verdict = 'missing') > 0
	            THEN format('%s calls have no result, the first is %s', count(*) FILTER (WHERE verdict = 'missing'),
	                        min(id) FILTER (WHERE verdict = 'missing')) END
	  FROM hostile.judged
	UNION ALL
	SELECT format('the %s calls whose arguments reach the function got success or a documented SQLSTATE',
	              count(*) FILTER (WHERE pre IS NULL)),
	       (SELECT string_agg(format('%s: %s "%s" (%s calls, e.g. %s)', fn, sqlstate, message, n, left(call, 160)), ' | ')
	          FROM (SELECT fn, sqlstate, message, count(*) AS n, min(call) AS call
	                  FROM hostile.judged WHERE verdict = 'undocumented' GROUP BY fn, sqlstate, message) u)
	  FROM hostile.judged
	UNION ALL
	SELECT format('the %s calls with a literal PostgreSQL rejects got its own error (%s)',
	              count(*) FILTER (WHERE pre IS NOT NULL),
	              (SELECT string_agg(sqlstate || ' x' || n, ', ' ORDER BY sqlstate)
	                 FROM (SELECT sqlstate, count(*) AS n FROM hostile.judged WHERE pre IS NOT NULL GROUP BY 1) p)),
	       (SELECT string_agg(format('%s: got %s "%s", want one of %s: %s', fn, sqlstate, message, pre, left(call, 160)), ' | ')
	          FROM (SELECT * FROM hostile.judged WHERE verdict = 'bad pre' LIMIT 5) u)
	  FROM hostile.judged
	UNION ALL
	SELECT format('the %s calls whose arguments decide the answer got exactly it (arguments checked in order, before any row)',
	              count(*) FILTER (WHERE pre IS NULL AND expect IS NOT NULL)),
	       (SELECT string_agg(format('%s: got %s "%s", want %s: %s', fn, sqlstate, message, expect, left(call, 160)), ' | ')
	          FROM (SELECT * FROM hostile.judged WHERE verdict = 'unexpected' LIMIT 5) u)
	  FROM hostile.judged});

# Recorded, not counted: what the argument checks let through that a reader
# of README might expect to be refused.
note $node->safe_psql($db, q{
	SELECT 'note: accepted ' || note || ' in ' || string_agg(DISTINCT split_part(fn, ' ', 1), '/') || ' (' || count(*) || ' calls)'
	  FROM (SELECT j.fn, v.note FROM hostile.judged j
	          JOIN (VALUES ('E''a\u0085b''', 'a C1 control character (U+0085) in patient_name'),
	                       ('E''\u00a0\u00a0''', 'a patient_name of only no-break spaces'),
	                       ('E''\u202Eevil''', 'a bidi override (U+202E) in patient_name'),
	                       ('E''a\u0085@b.cd''', 'a C1 control character (U+0085) in patient_email')) v(expr, note)
	            ON position(v.expr IN j.sql) > 0
	         WHERE j.sqlstate = '00000' AND j.fn IN ('book', 'hold')) a
	 GROUP BY note});

# The counters (shared memory) agree with the answers recorded.
rows_ok($node, $db, 'hostile calls', q{
WITH after_reset AS (
    SELECT c.fn, r.sqlstate, r.result FROM hostile.calls c JOIN hostile.results r USING (id)
     WHERE c.id > (SELECT max(id) FROM hostile.calls WHERE fn = 'medreserve_stats_reset')
       AND split_part(c.fn, ' ', 1) IN ('book', 'hold', 'confirm', 'cancel', 'medreserve_expire', 'patient')
       -- the listing and the reports count nothing
       AND c.fn NOT IN ('patient my_bookings', 'patient stats')
       -- its argument reads bookings, whose RLS policy refuses a bad claim
       -- before the function runs
       AND NOT (c.fn = 'patient cancel own' AND r.sqlstate = '22023')
       AND c.pre IS NULL),
want AS (
    SELECT count(*) FILTER (WHERE sqlstate = '00000' AND fn IN ('book', 'patient book', 'patient book other')) AS bookings_confirmed,
           count(*) FILTER (WHERE sqlstate = '00000' AND fn IN ('hold', 'patient hold')) AS holds_taken,
           count(*) FILTER (WHERE sqlstate = '00000' AND fn IN ('confirm', 'patient confirm')) AS holds_confirmed,
           count(*) FILTER (WHERE sqlstate = '00000' AND fn IN ('cancel', 'patient cancel', 'patient cancel own')) AS cancellations,
           coalesce(sum(result::int) FILTER (WHERE sqlstate = '00000' AND fn = 'medreserve_expire'), 0) AS holds_expired,
           count(*) FILTER (WHERE sqlstate = '23505') AS refused_slot_taken,
           count(*) FILTER (WHERE sqlstate = 'PT404') AS refused_not_found,
           count(*) FILTER (WHERE sqlstate IN ('22004', '22023')) AS refused_invalid_input,
           count(*) FILTER (WHERE sqlstate = 'PT409') AS refused_state_conflict
      FROM after_reset),
got AS (SELECT * FROM medreserve_counters())
SELECT format('the counters match the answers: %s booked, %s held, %s confirmed, %s cancelled, %s expired; refused %s taken, %s not found, %s invalid, %s conflict',
              g.bookings_confirmed, g.holds_taken, g.holds_confirmed, g.cancellations, g.holds_expired,
              g.refused_slot_taken, g.refused_not_found, g.refused_invalid_input, g.refused_state_conflict),
       CASE WHEN NOT (w.bookings_confirmed = g.bookings_confirmed AND w.holds_taken = g.holds_taken
             AND w.holds_confirmed = g.holds_confirmed AND w.cancellations = g.cancellations
             AND w.holds_expired = g.holds_expired AND w.refused_slot_taken = g.refused_slot_taken
             AND w.refused_not_found = g.refused_not_found AND w.refused_invalid_input = g.refused_invalid_input
             AND w.refused_state_conflict = g.refused_state_conflict) THEN format('want %s', row(w.*)) END
  FROM want w, got g});
note 'invalid-input refusals the counter missed: ' . $node->safe_psql($db, q{
	SELECT coalesce(string_agg(format('%s (%s): %s', r.sqlstate, r.message, left(c.role_sql || '; ' || c.sql, 200)), ' | '), 'none')
	  FROM hostile.calls c JOIN hostile.results r USING (id)
	  JOIN hostile.results p ON p.id = r.id - 1
	 WHERE r.sqlstate IN ('22004', '22023') AND r.invalid_counted = p.invalid_counted
	   AND c.fn NOT IN ('patient my_bookings', 'patient stats')
	   AND NOT (c.fn = 'patient cancel own' AND r.sqlstate = '22023')
	   AND split_part(c.fn, ' ', 1) IN ('book', 'hold', 'confirm', 'cancel', 'medreserve_expire', 'patient')});
rows_ok($node, $db, 'hostile calls', qq{
	SELECT format('refused calls left no row: %s bookings = %s from the set-up + %s successful book/hold calls',
	              have, $setup_bookings, made),
	       CASE WHEN have <> $setup_bookings + made THEN 'rows differ' END
	  FROM (SELECT (SELECT count(*) FROM medreserve.bookings) AS have,
	               (SELECT count(*) FROM hostile.calls c JOIN hostile.results r USING (id)
	                 WHERE r.sqlstate = '00000'
	                   AND c.fn IN ('book', 'hold', 'patient book', 'patient book other', 'patient hold')) AS made) x
	UNION ALL
	SELECT 'the SQL fragments in names and emails dropped nothing: the extension''s tables are all there',
	       (SELECT string_agg(t, ', ') FROM unnest(string_to_array('$tables', ',')) t
	         WHERE to_regclass(t) IS NULL)});

# At REPEATABLE READ and SERIALIZABLE the changing calls refuse with 25000
# (README, Errors), whatever their arguments.
for my $iso ('REPEATABLE READ', 'SERIALIZABLE')
{
	my @bad;
	for my $call ("medreserve_book(30, 'Iso Patient')", "medreserve_book(ARRAY[31, 32], 'Iso Patient')",
		"medreserve_hold(33, 'Iso Patient')", "medreserve_hold(ARRAY[34], 'Iso Patient')",
		'medreserve_confirm(2)', 'medreserve_cancel(1)', 'medreserve_expire()',
		'medreserve_book(NULL::int, NULL)', "medreserve_book(4242, 'Iso Patient')")
	{
		my $got = sql_error($node, $db, "BEGIN ISOLATION LEVEL $iso;\nSELECT $call;\nROLLBACK;");
		push @bad, "$call: $got" unless $got =~ /^25000: cannot .* at isolation level $iso$/;
	}
	is(join('; ', @bad), '', "at $iso all 9 changing calls are refused with 25000");
}

is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'the postmaster never restarted (same start time)');
ok(kill(0, $pm_before), "the postmaster is the one started ($pm_before)");
unlike(slurp_file($node->logfile),
	qr/PANIC|terminated by signal|was terminated by|server process .* exited with exit code|terminating any other active server processes|all server processes terminated/,
	'the server log has no PANIC, no backend killed by a signal, no crash restart');
invariants_hold($node, $db, 'after the hostile calls');
table_rules_hold($node, $db, 'after the hostile calls');
btree_indexes_hold($node, $db, 'after the hostile calls');
done_testing();
