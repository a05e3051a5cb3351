# Many clients race over group sessions and ordinary slots (issue 11).
#
# 16 pgbench clients (4800 actions) book, hold (one or two slots, holds
# lapsing after a second), confirm, cancel, reschedule (seats move between
# slots, issue 13) and sweep at random over 41 slots, odd ones with
# capacity 3, even ones with capacity 1.  Each action runs in a wrapper
# that keeps the refusals the API may give (23505 slot taken or full, PT409
# state conflict, PT404 booking gone) and records anything else, a deadlock
# (40P01) above all.  After the run: nothing unexpected was raised, no slot
# has more bookings than seats, and medreserve_verify() finds the slots'
# state equal to their booking rows.  Nothing is asserted about timings.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('race', conf => "max_connections = 50\n");
$node->safe_psql('postgres', q{
    SELECT medreserve_add_doctor('Dr Ada Grey');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                              now() + interval '1 day 600 minutes', 15);
    UPDATE medreserve.slots SET capacity = 3 WHERE id % 2 = 1;
    CREATE TABLE race_errors (action int, sqlstate text, message text);
    CREATE FUNCTION race(action int, slot int) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
        target int;
    BEGIN
        SET LOCAL medreserve.hold_duration = '1s';
        CASE
        WHEN action = 1 THEN PERFORM medreserve_book(slot, 'Racer');
        WHEN action <= 5 THEN PERFORM medreserve_hold(slot, 'Racer');
        WHEN action = 6 THEN PERFORM medreserve_hold(ARRAY[slot + 1, slot], 'Racer');
        WHEN action = 7 THEN PERFORM medreserve_book(ARRAY[slot, slot + 1], 'Racer');
        WHEN action = 8 THEN
            SELECT b.id INTO target FROM medreserve.booking_slots bs
              JOIN medreserve.bookings b ON b.id = bs.booking_id
             WHERE bs.slot_id = slot AND b.status = 'PENDING' LIMIT 1;
            IF target IS NOT NULL THEN PERFORM medreserve_confirm(target); END IF;
        WHEN action = 9 THEN
            SELECT bs.booking_id INTO target FROM medreserve.booking_slots bs
             WHERE bs.slot_id = slot LIMIT 1;
            IF target IS NOT NULL THEN PERFORM medreserve_cancel(target); END IF;
        WHEN action = 10 THEN PERFORM medreserve_expire();
        WHEN action = 11 THEN
            SELECT bs.booking_id INTO target FROM medreserve.booking_slots bs
             WHERE bs.slot_id = slot LIMIT 1;
            IF target IS NOT NULL THEN PERFORM medreserve_reschedule(target, slot + 2); END IF;
        ELSE NULL;              -- a pause: give holds time to lapse
        END CASE;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE NOT IN ('23505', 'PT409', 'PT404') THEN
            INSERT INTO race_errors VALUES (action, SQLSTATE, SQLERRM);
        END IF;
        RETURN SQLSTATE;
    END $$;
});

$node->pgbench('-n -c 16 -j 2 -t 300', 0, [qr/processed: 4800\/4800/], [],
	'16 clients, 4800 actions, none aborted',
	{ '111_race' => q{
\set slot random(1, 40)
\set action random(1, 13)
SELECT race(:action, :slot);
} }, 'postgres');

is($node->safe_psql('postgres', q{SELECT string_agg(format('%s %s: %s', action, sqlstate, message), '; ') FROM race_errors}),
	'', 'only the refusals of the API were raised (no deadlock, no constraint violation)');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM medreserve.slots s
     WHERE (SELECT count(*) FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id) > s.capacity}),
	'0', 'no slot has more bookings than seats');
invariants_hold($node, 'postgres', 'after the race');
note($node->safe_psql('postgres', q{
    SELECT format('bookings by status: %s; holds released lazily: %s, expired: %s',
                  (SELECT string_agg(status || ' ' || n, ', ') FROM
                     (SELECT status, count(*) n FROM medreserve.bookings GROUP BY 1 ORDER BY 1) t),
                  holds_released_lazily, holds_expired) FROM medreserve_counters()}));

# Lazy release under the race: every seat is held by a hold that has lapsed
# (pairs of slots too), then 16 clients book at random; the first booker of a
# seat takes it back from the dead hold (its other slot may be locked by
# another booker: then 23505, try again), with the state exact after.
$node->safe_psql('postgres', q{
    SELECT count(medreserve_cancel(b.id)) FROM medreserve.bookings b WHERE b.status IN ('PENDING', 'CONFIRMED');
    SET medreserve.hold_duration = '1s';
    SELECT count(medreserve_hold(ARRAY[s, s + 1], 'Pair')) FROM generate_series(1, 40, 2) AS s;
    SELECT count(medreserve_hold(s.id, 'Single')) FROM medreserve.slots s, generate_series(1, 2)
     WHERE s.capacity = 3;
    SELECT pg_sleep(1.1);
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve_available_slots(1, now(), now() + interval '2 days')}),
	'41', 'every slot is full of lapsed holds, and reads as free');
my $lazy_before = $node->safe_psql('postgres', q{SELECT holds_released_lazily FROM medreserve_counters()});
$node->pgbench('-n -c 16 -j 2 -t 20', 0, [qr/processed: 320\/320/], [],
	'16 clients take back lapsed seats',
	{ '111_takeback' => q{
\set slot random(1, 40)
\set action random(1, 7)
SELECT race(:action, :slot);
} }, 'postgres');
ok($node->safe_psql('postgres', q{SELECT holds_released_lazily FROM medreserve_counters()}) > $lazy_before,
	'bookers settled lapsed holds themselves');
is($node->safe_psql('postgres', q{SELECT string_agg(format('%s %s: %s', action, sqlstate, message), '; ') FROM race_errors}),
	'', 'still only the refusals of the API');
invariants_hold($node, 'postgres', 'after the take-back race');

# once every hold has lapsed and the sweep ran, the state is still exact
$node->safe_psql('postgres', q{SELECT pg_sleep(1.1); SELECT medreserve_expire()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve.bookings WHERE status = 'PENDING'}),
	'0', 'the sweep settled every lapsed hold');
invariants_hold($node, 'postgres', 'after the final sweep');
done_testing();
