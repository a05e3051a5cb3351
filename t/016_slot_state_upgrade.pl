# Upgrading to 1.2 computes the state of existing slots (issue 11).
#
# A database made with 1.0, and one with 1.1, get live, lapsed, confirmed,
# cancelled and swept bookings (one a lapsed hold over two slots), as rows
# that version's API leaves, then ALTER EXTENSION ... UPDATE TO '1.2'.  After it:
# medreserve_verify() finds nothing (slot state = booking rows), each slot's
# seats and earliest lapse are what its bookings say, a lapsed hold reads as
# free, the slots and booking_slots tables are defined as in a fresh 1.2
# install, and booking through the new code settles the lapsed holds and
# keeps the invariants.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('upgrade', extension => 0);

# constraints, indexes and storage options of the two tables that changed
my $definition = q{
    SELECT string_agg(x, E'\n' ORDER BY x) FROM (
      SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x
        FROM pg_constraint WHERE conrelid IN ('medreserve.slots'::regclass, 'medreserve.booking_slots'::regclass)
      UNION ALL
      SELECT pg_get_indexdef(indexrelid) FROM pg_index
       WHERE indrelid IN ('medreserve.slots'::regclass, 'medreserve.booking_slots'::regclass)
      UNION ALL
      SELECT relname || ' ' || coalesce(array_to_string(reloptions, ','), '')
        FROM pg_class WHERE oid IN ('medreserve.slots'::regclass, 'medreserve.booking_slots'::regclass)
      UNION ALL
      SELECT attrelid::regclass || '.' || attname || ' ' || format_type(atttypid, atttypmod)
             || ' ' || attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE attrelid IN ('medreserve.slots'::regclass, 'medreserve.booking_slots'::regclass)
         AND attnum > 0 AND NOT attisdropped) AS t};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION medreserve CASCADE');
my $fresh = $node->safe_psql('fresh', $definition);

for my $from ('1.0', '1.1')
{
	my $db = 'from_' . ($from =~ tr/./_/r);
	$node->safe_psql('postgres', qq{CREATE DATABASE $db});
	$node->safe_psql($db, qq{CREATE EXTENSION btree_gist; CREATE EXTENSION medreserve VERSION '$from'});
	# slots 1..8 of one doctor, and the rows the old API would have left (its C
	# functions are not callable here: the library installed is 1.2's)
	$node->safe_psql($db, q{
        SELECT medreserve_add_doctor('Dr Ada Grey');
        SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                                  now() + interval '1 day 105 minutes', 15);
        INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at) VALUES
            (1, 'Ann Confirmed', 'CONFIRMED', NULL),
            (2, 'Bob Live Hold', 'PENDING', now() + interval '10 minutes'),
            (3, 'Cy Lapsed Hold', 'PENDING', now() - interval '1 minute'),
            (4, 'Dee Lapsed Pair', 'PENDING', now() - interval '2 minutes'),
            (6, 'Eve Cancelled', 'CANCELLED', NULL),
            (7, 'Fay Confirmed Hold', 'CONFIRMED', NULL),
            (8, 'Gil Swept Hold', 'FAILED', now() - interval '1 hour');
        INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES
            (1, 1), (2, 2), (3, 3), (4, 4), (4, 5), (6, 7);
    });
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'medreserve'}),
		$from, "installed $from with data");

	$node->safe_psql($db, q{ALTER EXTENSION medreserve UPDATE TO '1.2'});
	invariants_hold($node, $db, "after the upgrade from $from");
	is($node->safe_psql($db, q{
        SELECT string_agg(format('%s:%s/%s/%s %s', s.id, s.capacity, s.seats_confirmed, s.seats_held,
                                 CASE WHEN s.hold_lapses_at IS NULL THEN '-'
                                      WHEN s.hold_lapses_at = b.expires_at THEN 'its hold'
                                      ELSE 'wrong' END), ' ' ORDER BY s.id)
          FROM medreserve.slots s
          LEFT JOIN medreserve.booking_slots bs ON bs.slot_id = s.id
          LEFT JOIN medreserve.bookings b ON b.id = bs.booking_id}),
		'1:1/1/0 - 2:1/0/1 its hold 3:1/0/1 its hold 4:1/0/1 its hold 5:1/0/1 its hold 6:1/0/0 - 7:1/1/0 - 8:1/0/0 -',
		"from $from: each slot's seats and earliest lapse are its bookings'");
	is($node->safe_psql($db, q{SELECT string_agg(id::text, ',' ORDER BY id)
                                 FROM medreserve_available_slots(1, now(), now() + interval '2 days')}),
		'3,4,5,6,8', "from $from: free are the cancelled, unbooked and lapsed-hold slots");
	is($node->safe_psql($db, $definition), $fresh,
		"from $from: slots and booking_slots are defined as in a fresh install");

	# the new code on the upgraded data: lazy release of the lapsed pair, the sweep
	is($node->safe_psql($db, q{SELECT status FROM medreserve_book(4, 'Gus Ray')}),
		'CONFIRMED', "from $from: a slot under a lapsed two-slot hold is booked");
	is($node->safe_psql($db, q{SELECT status FROM medreserve.bookings WHERE id = 4}),
		'FAILED', "from $from: ... which settled that hold, on both its slots");
	my ($rc, $out, $err) = $node->psql($db, q{\set VERBOSITY verbose
        SELECT medreserve_book(2, 'Hal Moss')});
	like($err, qr/23505: slot 2 is already held/, "from $from: the live hold still holds its slot");
	is($node->safe_psql($db, q{SELECT medreserve_expire()}), '1', "from $from: the sweep settles the other lapsed hold");
	invariants_hold($node, $db, "from $from, after booking and sweeping");
}
done_testing();
