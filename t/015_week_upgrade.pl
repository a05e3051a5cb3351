# Upgrading a populated 1.0 database to 1.2 (issue 12): existing doctors get
# the upgrading session's time zone, existing slots count as hand-made, and
# generation then fills in around them without touching a booking.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('week_upgrade', extension => 0);
$node->safe_psql('postgres', q{
    CREATE EXTENSION btree_gist;
    CREATE EXTENSION medreserve VERSION '1.0';
    SELECT medreserve_add_doctor('Dr Old Hand', 'cardiology');
    -- tomorrow 10:00-11:00 Lisbon time by hand, 20-minute slots; the first is booked
    SELECT count(*) FROM medreserve_add_slots(1, (CURRENT_DATE + 1 + time '10:00') AT TIME ZONE 'Europe/Lisbon',
                                              (CURRENT_DATE + 1 + time '10:40') AT TIME ZONE 'Europe/Lisbon', 20);
    -- (written as a 1.0 installation holds it: the 1.2 library books only
    -- once the schema is updated)
    INSERT INTO medreserve.bookings (slot_id, patient_name, status) VALUES (1, 'Ann Lee', 'CONFIRMED');
    INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 1);
});
$node->safe_psql('postgres', q{
    SET timezone = 'Europe/Lisbon';
    ALTER EXTENSION medreserve UPDATE TO '1.1';
    ALTER EXTENSION medreserve UPDATE TO '1.2';
});
is($node->safe_psql('postgres', 'SELECT extversion FROM pg_extension WHERE extname = $$medreserve$$'),
	'1.2', 'the chain 1.0 -> 1.1 -> 1.2 runs on a populated database');
is($node->safe_psql('postgres', 'SELECT time_zone FROM medreserve.doctors'),
	'Europe/Lisbon', 'an existing doctor works in the upgrading session\'s zone');
is($node->safe_psql('postgres', 'SELECT count(*), bool_or(generated) FROM medreserve.slots'),
	'3|f', 'existing slots are hand-made');

# Working hours over the same morning in 30-minute slots: generation keeps the
# hand-made slots and the booking, and fills only what does not overlap them.
$node->safe_psql('postgres', q{
    SET timezone = 'UTC';
    SELECT medreserve_set_working_hours(1, extract(isodow FROM CURRENT_DATE + 1)::int,
                                        '09:00', '12:00', 30, CURRENT_DATE + 1, CURRENT_DATE + 1);
});
is( $node->safe_psql(
		'postgres', q{
    SELECT string_agg(to_char(start_time AT TIME ZONE 'Europe/Lisbon', 'HH24:MI')
                      || CASE WHEN generated THEN '*' ELSE '' END, ' ' ORDER BY start_time)
      FROM medreserve.slots}),
	'09:00* 09:30* 10:00 10:20 10:40 11:00* 11:30*',
	'generated slots (*) fill the Lisbon morning around the hand-made ones');
is($node->safe_psql('postgres', q{SELECT status FROM medreserve.bookings}),
	'CONFIRMED', 'the booking is untouched');
invariants_hold($node, 'postgres', 'after the upgrade and generation');
$node->stop;
done_testing();
