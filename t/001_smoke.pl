# The TAP harness itself: a node with medreserve preloaded books a slot, a
# second booking of it is refused with 23505, and the invariants hold.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('smoke');
$node->safe_psql('postgres', q{
    SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                              now() + interval '1 day 1 hour', 15);
});
is($node->safe_psql('postgres', q{SELECT status FROM medreserve_book(1, 'Ann Lee')}),
	'CONFIRMED', 'a free slot is booked');
my ($rc, $out, $err) = $node->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT medreserve_book(1, 'Bob Marsh')});
like($err, qr/23505: slot 1 is already booked/, 'the second booking is refused with 23505');
invariants_hold($node, 'postgres', 'after two bookings');
done_testing();
