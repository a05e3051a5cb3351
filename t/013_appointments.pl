# The appointment's life at cluster level (issue 13):
#
# 1. Upgrade: a populated 1.1 database (live, lapsed, failed and cancelled
#    bookings, one of them over two slots) is updated to 1.2; every booking
#    gets its doctor and the span of its slots, cancelled ones a
#    cancelled_at, and the invariants hold.
# 2. Race: many clients book, hold, reschedule (one slot or two, crossing
#    each other's slots), cancel, check in and sweep at once.  No client
#    may fail with anything but the API's refusals (a deadlock or a raw
#    unique violation fails the run); afterwards the invariants hold,
#    including that every booking's doctor and times match its slots, and
#    every reschedule left a linked pair.
# 3. Automatic no-shows: medreserve.no_show_after set for a database makes
#    the pg_cron procedure mark a confirmed booking long past its start as
#    NOSHOW, logging the count and no patient data.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('appointments', extension => 0);

# --- 1. Upgrade of a populated 1.1 database ---------------------------------
$node->safe_psql('postgres', q{CREATE DATABASE upgraded});
$node->safe_psql('upgraded', q{
    CREATE EXTENSION medreserve VERSION '1.1' CASCADE;
    INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey'), ('Dr Ben Okafor');
    -- doctor 1: slots 1-4 from 09:00 on 2099-03-02; doctor 2: slot 5 at 10:00, 30 minutes
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT 1, '2099-03-02 09:00+00'::timestamptz + i * interval '15 minutes'
      FROM generate_series(0, 3) AS i;
    INSERT INTO medreserve.slots (doctor_id, start_time, duration_minutes)
    VALUES (2, '2099-03-02 10:00+00', 30);
    INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at, updated_at) VALUES
        (1, 'Ann', 'CONFIRMED', NULL, now()),                          -- 1: slots 1 and 2
        (3, 'Bob', 'PENDING', now() + interval '1 hour', now()),       -- 2: a live hold
        (4, 'Cy', 'PENDING', now() - interval '1 hour', now()),        -- 3: lapsed, not swept
        (4, 'Dee', 'FAILED', NULL, now()),                             -- 4: swept, slots gone
        (5, 'Eve', 'CANCELLED', NULL, '2026-01-02 03:04:05+00');       -- 5: cancelled
    INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 1), (1, 2), (2, 3), (3, 4);
});
$node->safe_psql('upgraded', q{ALTER EXTENSION medreserve UPDATE TO '1.2'});
is( $node->safe_psql(
		'upgraded', q{
    SET timezone = 'UTC';
    SELECT string_agg(format('%s %s %s-%s %s', id, doctor_id, to_char(starts_at, 'HH24:MI'),
                             to_char(ends_at, 'HH24:MI'), coalesce(cancelled_at::text, '-')),
                      E'\n' ORDER BY id)
      FROM medreserve.bookings}),
	"1 1 09:00-09:30 -\n2 1 09:30-09:45 -\n3 1 09:45-10:00 -\n4 1 09:45-10:00 -\n"
	  . "5 2 10:00-10:30 2026-01-02 03:04:05+00",
	'the update fills doctor and span from the slots, cancelled_at from the last update');
invariants_hold($node, 'upgraded', 'after the update of a populated 1.1 database');
is( $node->safe_psql(
		'upgraded',
		q{SELECT state FROM medreserve_appointments('2099-03-02', '2099-03-03', 1) WHERE booking_id = 3}),
	'EXPIRED',
	'a lapsed hold from before the update lists as EXPIRED');

# --- 2. Many clients, reschedules among them -----------------------------------
$node->safe_psql('postgres', q{CREATE EXTENSION medreserve CASCADE});
$node->safe_psql('postgres', q{
    -- 4 doctors with 30 slots each, from tomorrow; slots 1-30 belong to doctor 1, ...
    INSERT INTO medreserve.doctors (name) SELECT 'Dr ' || d FROM generate_series(1, 4) AS d;
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT d, date_trunc('hour', now()) + interval '1 day' + s * interval '15 minutes'
      FROM generate_series(1, 4) AS d, generate_series(0, 29) AS s
     ORDER BY d, s;
    -- 4 slots starting in 20 minutes: their bookings can be checked in
    INSERT INTO medreserve.doctors (name) VALUES ('Dr Now');
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT 5, now() + interval '20 minutes' + s * interval '15 minutes' FROM generate_series(0, 3) AS s;
    SELECT medreserve_stats_reset();

    -- One step of a client: the API's refusals are expected and swallowed;
    -- anything else (a deadlock, a raw unique violation) fails the client.
    CREATE FUNCTION race_step(pick float8, b integer, s integer) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF pick < 0.25 THEN
            PERFORM medreserve_book(s, 'P' || s);
        ELSIF pick < 0.35 THEN
            PERFORM medreserve_hold(ARRAY[s, s + 1], 'H' || s);
        ELSIF pick < 0.60 THEN
            PERFORM medreserve_reschedule(b, s);
        ELSIF pick < 0.75 THEN
            PERFORM medreserve_reschedule(b, ARRAY[s, s + 1]);
        ELSIF pick < 0.85 THEN
            PERFORM medreserve_cancel(b, 'race');
        ELSIF pick < 0.95 THEN
            PERFORM medreserve_check_in(b);
        ELSE
            PERFORM medreserve_expire();
        END IF;
    EXCEPTION WHEN unique_violation OR invalid_parameter_value OR sqlstate 'PT404'
                   OR sqlstate 'PT409' THEN
        NULL;
    END $$;
});
my $max_slot = $node->safe_psql('postgres', 'SELECT max(id) FROM medreserve.slots');
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=400',
	0,
	[qr/processed: 3200\/3200/],
	[qr/^$/],
	'8 clients book, hold, reschedule, cancel, check in and sweep without an unexpected error',
	{
		'013_race' => qq{
\\set b random(1, 600)
\\set s random(1, $max_slot)
SELECT race_step(random(), :b, :s);
}
	});

invariants_hold($node, 'postgres', 'after the race');
my ($reschedules, $links) = split /\|/, $node->safe_psql(
	'postgres', q{
    SELECT (SELECT reschedules FROM medreserve_counters()),
           (SELECT count(*) FROM medreserve.bookings n
              JOIN medreserve.bookings o ON o.id = n.rescheduled_from AND o.rescheduled_to = n.id)});
cmp_ok($reschedules, '>', 0, 'the race rescheduled bookings');
note("reschedules: $reschedules, linked pairs: $links");
is($links, $reschedules, 'every reschedule left a pair of bookings that name each other');
is( $node->safe_psql(
		'postgres', q{
    SELECT count(*) FROM medreserve.booking_slots bs
      JOIN medreserve.bookings b ON b.id = bs.booking_id
     WHERE NOT medreserve.booking_is_live(b.status, b.expires_at)
       AND NOT medreserve.hold_has_lapsed(b.status, b.expires_at)}),
	'0',
	'only live bookings (and unswept lapsed holds) cover slots');

# --- 3. Automatic no-shows through the pg_cron procedure ---------------------------
# medreserve.no_show_after is the DBA's (SUSET): set for the database, as a
# clinic would.  The procedure marks the no-show when its sweep finishes.
$node->safe_psql('postgres', q{CREATE DATABASE noshow});
$node->safe_psql('noshow', q{
    CREATE EXTENSION medreserve CASCADE;
    INSERT INTO medreserve.doctors (name) VALUES ('Dr Late');
    INSERT INTO medreserve.slots (doctor_id, start_time)
    VALUES (1, now() + interval '1 hour'), (1, now() + interval '2 hours');
    SELECT medreserve_book(1, 'Nora Missed');
    SELECT medreserve_book(2, 'Otto Later');
    -- booking 1 started two hours ago (booked slots cannot move: trigger off)
    BEGIN;
    SET LOCAL session_replication_role = replica;
    UPDATE medreserve.slots SET start_time = now() - interval '2 hours' WHERE id = 1;
    UPDATE medreserve.bookings SET starts_at = now() - interval '2 hours',
                                   ends_at = now() - interval '105 minutes' WHERE id = 1;
    COMMIT;
});
$node->safe_psql('noshow', q{CALL medreserve_run_expiry()});
is($node->safe_psql('noshow', q{SELECT string_agg(status, ',' ORDER BY id) FROM medreserve.bookings}),
	'CONFIRMED,CONFIRMED', 'no automatic no-show while medreserve.no_show_after is off');
$node->safe_psql('postgres', q{ALTER DATABASE noshow SET medreserve.no_show_after = '1h'});
my $log_offset = -s $node->logfile;
$node->safe_psql('noshow', q{CALL medreserve_run_expiry()});
is($node->safe_psql('noshow', q{SELECT string_agg(status, ',' ORDER BY id) FROM medreserve.bookings}),
	'NOSHOW,CONFIRMED', 'the sweep procedure marks a booking started longer ago than no_show_after');
ok($node->log_contains(qr/1 confirmed booking marked as a no-show/, $log_offset),
	'the sweep logs how many no-shows it marked');
ok(!$node->log_contains(qr/Nora Missed/, $log_offset), '... and no patient name');
invariants_hold($node, 'noshow', 'after the automatic no-show');

done_testing();
