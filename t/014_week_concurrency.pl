# Many clients at once on a clinic's week (issue 12): patients find and book
# slots while admins add and remove time off, change working hours and run
# generation.  No client may fail on anything but the refusals the API
# promises (slot taken 23505, slot gone PT404, started PT409, overlap
# 23P01), no deadlock, and afterwards the invariants hold: no free generated
# slot in time off, no slot under a live booking removed, no overlap.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('week_concurrency');
$node->safe_psql('postgres', q{
    SET client_min_messages = warning;
    SELECT medreserve_add_doctor(format('Dr %s', d), 'cardiology', 'UTC') FROM generate_series(1, 4) d;
    SELECT count(*) FROM generate_series(1, 4) AS doc, generate_series(1, 7) AS wd,
           medreserve_set_working_hours(doc, wd, '09:00', '12:00', 20, CURRENT_DATE + 1, CURRENT_DATE + 14);

    -- each client action, refusing only as the API promises; anything else fails the client
    CREATE FUNCTION try_book() RETURNS text LANGUAGE plpgsql AS $$
    DECLARE s integer;
    BEGIN
        SELECT f.slot_id INTO s
          FROM medreserve_find_slots(doctor_ids => ARRAY[1 + (random() * 3)::int],
                                     from_time => CURRENT_DATE + 1 + (random() * 13)::int,
                                     max_results => 1) f;
        IF s IS NULL THEN RETURN 'none'; END IF;
        PERFORM medreserve_book(s, 'Pat Client');
        RETURN 'booked';
    EXCEPTION WHEN unique_violation OR sqlstate 'PT404' OR sqlstate 'PT409' THEN
        RETURN SQLSTATE;
    END $$;
    CREATE FUNCTION try_time_off() RETURNS text LANGUAGE plpgsql AS $$
    DECLARE day date := CURRENT_DATE + 1 + (random() * 13)::int;
            doc integer := CASE WHEN random() < 0.2 THEN NULL ELSE 1 + (random() * 3)::int END;
            gone integer;
    BEGIN
        IF random() < 0.5 THEN
            PERFORM count(*) FROM medreserve_add_time_off(doc, day + time '10:00', day + time '11:00', 'client');
            RETURN 'added';
        END IF;
        SELECT id INTO gone FROM medreserve.time_off ORDER BY random() LIMIT 1;
        IF gone IS NULL THEN RETURN 'none'; END IF;
        PERFORM medreserve_remove_time_off(gone);
        RETURN 'removed';
    EXCEPTION WHEN sqlstate 'PT404' THEN
        RETURN SQLSTATE;
    END $$;
    CREATE FUNCTION try_hours() RETURNS text LANGUAGE plpgsql AS $$
    DECLARE doc integer := 1 + (random() * 3)::int;
            wd integer := 1 + (random() * 6)::int;
            len integer := CASE WHEN random() < 0.5 THEN 20 ELSE 30 END;
    BEGIN
        PERFORM medreserve_clear_working_hours(doc, wd);
        PERFORM medreserve_set_working_hours(doc, wd, '09:00', '12:00', len, CURRENT_DATE + 1, CURRENT_DATE + 14);
        RETURN 'changed';
    EXCEPTION WHEN exclusion_violation THEN
        RETURN SQLSTATE;
    END $$;
});

# the NOTICEs about booked slots kept by a change of hours are expected: hide them
$ENV{PGOPTIONS} = '-c client_min_messages=warning';
$node->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=40',
	0,
	[ qr{processed: 320/320}, qr{number of failed transactions: 0 \(} ],
	[ qr{^$} ],
	'8 clients book, take time off, change hours and generate; none fails',
	{
		'014_book@6'     => q{SELECT try_book();},
		'014_time_off@2' => q{SELECT try_time_off();},
		'014_hours@1'    => q{SELECT try_hours();},
		'014_generate@1' => q{SELECT medreserve_generate_slots(CURRENT_DATE + 15);},
	});

ok($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve.bookings WHERE status = 'CONFIRMED'}) > 0,
	'patients booked slots meanwhile');
is( $node->safe_psql(
		'postgres', q{
    SELECT count(*) FROM medreserve.slots a JOIN medreserve.slots b
        ON a.doctor_id = b.doctor_id AND a.id < b.id
       AND medreserve.slot_period(a.start_time, a.duration_minutes)
           && medreserve.slot_period(b.start_time, b.duration_minutes)}),
	'0', 'no two slots of a doctor overlap');
is( $node->safe_psql(
		'postgres', q{
    SELECT count(*) FROM medreserve.bookings b
     WHERE medreserve.booking_is_live(b.status, b.expires_at)
       AND NOT EXISTS (SELECT 1 FROM medreserve.slots s WHERE s.id = b.slot_id)}),
	'0', 'every live booking still has its slot');
# a final generation changes nothing that time off forbids
$node->safe_psql('postgres', 'SELECT medreserve_generate_slots(CURRENT_DATE + 15)');
invariants_hold($node, 'postgres', 'after the many clients (no free generated slot in time off)');
$node->stop;
done_testing();
