# Many clients, each re-sending every call once (issue 14): safe retries and
# fair use under concurrency.
#
# Round 1, as an admin: 8 clients book slots with idempotency keys drawn from
# a small set, so that the same key is sent by several clients at once; key
# n always books slot n.  Every call must succeed (a replay never gets 23505),
# the re-sent call must return the very booking the first one returned, and
# afterwards there is exactly one booking per key.
#
# Round 2, as a kiosk (a patient role without identity, limits apply): 8
# clients hold one or two slots for one of five patients and re-send each
# hold once.  Refusals (23505 slot taken, PT429 over the limit) are expected;
# a hold that succeeded must be returned again by its re-sent call, and no
# patient may ever hold more than medreserve.max_live_holds_per_patient (3)
# slots.  medreserve_verify() holds after both.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('retries');
my $keys = 150;

$node->safe_psql('postgres', q{
    INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT 1, now() + interval '1 day' + i * interval '15 minutes'
      FROM generate_series(1, 600) i;
    CREATE ROLE kiosk LOGIN IN ROLE medreserve_patient;
    -- a hold that returns 0 instead of raising an expected refusal
    CREATE FUNCTION try_hold(first_slot integer, nslots integer, patient integer, k text)
    RETURNS integer
    LANGUAGE plpgsql AS $$
    BEGIN
        RETURN (SELECT id FROM medreserve_hold(
                    ARRAY(SELECT generate_series(first_slot, first_slot + nslots - 1)),
                    'Patient ' || patient, 'p' || patient || '@example.org',
                    idempotency_key => k));
    EXCEPTION WHEN unique_violation OR SQLSTATE 'PT429' THEN
        RETURN 0;
    END $$;
});

# Round 1 ------------------------------------------------------------------
$node->pgbench(
	"--no-vacuum --client=8 --jobs=2 --transactions=60",
	0,
	[qr{processed: 480/480}],
	[qr{^$}],
	'admin: every keyed booking and its re-sent copy succeed',
	{
		'150_book_twice' => qq{
\\set n random(1, $keys)
SELECT id AS first FROM medreserve_book(:n, 'Patient ' || :n, idempotency_key => 'book-' || :n) \\gset
SELECT id AS again FROM medreserve_book(:n, 'Patient ' || :n, idempotency_key => 'book-' || :n) \\gset
\\if :first != :again
SELECT 1 / 0 AS the_re_sent_call_returned_another_booking;
\\endif
}
	});

is( $node->safe_psql('postgres', q{
        SELECT count(*) = (SELECT count(*) FROM medreserve.idempotency_keys)
           AND count(*) = (SELECT count(DISTINCT booking_id) FROM medreserve.idempotency_keys)
           AND count(*) = count(DISTINCT slot_id)
          FROM medreserve.bookings}),
	't', 'one booking per key, one key per booking');
is( $node->safe_psql('postgres', q{
        SELECT count(*) FROM medreserve.idempotency_keys k
          JOIN medreserve.bookings b ON b.id = k.booking_id
         WHERE k.key <> 'book-' || b.slot_id}),
	'0', 'each key names the booking of its own slot');
invariants_hold($node, 'postgres', 'after the keyed bookings');

# Round 2 ------------------------------------------------------------------
$node->pgbench(
	"--no-vacuum --client=8 --jobs=2 --transactions=80 --username=kiosk",
	0,
	[qr{processed: 640/640}],
	[qr{^$}],
	'kiosk: holds re-sent once return the same hold',
	{
		'150_hold_twice' => q{
\set p random(1, 5)
\set s random(200, 598)
\set w random(1, 2)
SELECT try_hold(:s, :w, :p, 'hold-' || :p || '-' || :s || '-' || :w) AS first \gset
SELECT try_hold(:s, :w, :p, 'hold-' || :p || '-' || :s || '-' || :w) AS again \gset
\if :first != 0 and :first != :again
SELECT 1 / 0 AS the_re_sent_hold_returned_another_booking;
\endif
}
	});

is( $node->safe_psql('postgres', q{
        SELECT coalesce(max(held), 0) <= 3 FROM (
            SELECT medreserve.email_key(b.patient_email), count(*) AS held
              FROM medreserve.bookings b
              JOIN medreserve.booking_slots bs ON bs.booking_id = b.id
             WHERE b.status = 'PENDING' AND medreserve.booking_is_live(b.status, b.expires_at)
             GROUP BY 1) per_patient}),
	't', 'no patient holds more than 3 slots');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve.bookings WHERE status = 'PENDING'}),
	'>', 0, 'some holds were taken');
invariants_hold($node, 'postgres', 'after the holds at the limit');

$node->stop;
done_testing();
