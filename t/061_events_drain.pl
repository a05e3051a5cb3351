# The outbox under load (issue 15): N workers of one consumer drain the events
# of many concurrent bookers, some of whose transactions commit late (they
# sleep before COMMIT, holding an event with a smaller id than events
# committed meanwhile) and some roll back.  Afterwards:
#   - every committed transition (as logged by an independent audit trigger
#     on medreserve.bookings) has exactly one event, and no event lacks one;
#   - every event was handed to the workers exactly once, none skipped;
#   - events did commit out of id order (track_commit_timestamp), so the gap
#     trap was there to fall into.
# Then the doorbell: no NOTIFY without a registered consumer, one per
# transaction with one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('drain', conf => "track_commit_timestamp = on\nmax_connections = 40\n");
my $slots = 120;

$node->safe_psql('postgres', qq{
    ALTER DATABASE postgres SET medreserve.hold_duration = '1s';
    SELECT medreserve_add_doctor('Dr Ada Grey');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
        now() + interval '1 day' + ($slots - 1) * interval '15 minutes', 15);

    -- an independent record of every committed transition of a booking
    CREATE TABLE audit (booking_id integer, status text);
    CREATE FUNCTION audit_booking() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN
        IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
            INSERT INTO public.audit VALUES (NEW.id, NEW.status);
        END IF;
        RETURN NULL;
    END \$\$;
    CREATE TRIGGER audit_booking AFTER INSERT OR UPDATE ON medreserve.bookings
        FOR EACH ROW EXECUTE FUNCTION audit_booking();

    -- what the workers were handed, in order
    CREATE TABLE drained (seq bigserial, worker integer, event_id bigint,
                          acked boolean NOT NULL DEFAULT false);

    -- one random step on a slot: hold or book it when free, else confirm or
    -- cancel what is there; a refusal (23505, PT409, a deadlock) rolls back
    -- its savepoint and returns its SQLSTATE
    CREATE FUNCTION drain_step(slot integer, act integer) RETURNS text
    LANGUAGE plpgsql AS \$\$
    DECLARE
        cur record;
        b medreserve.bookings;
    BEGIN
        SELECT bk.id, bk.status INTO cur
          FROM medreserve.booking_slots bs JOIN medreserve.bookings bk ON bk.id = bs.booking_id
         WHERE bs.slot_id = slot;
        IF cur.id IS NULL OR act % 4 = 0 THEN
            IF act % 2 = 0 THEN
                b := medreserve_hold(slot, 'Drain Patient');
            ELSE
                b := medreserve_book(slot, 'Drain Patient');
            END IF;
        ELSIF cur.status = 'PENDING' AND act % 3 <> 0 THEN
            b := medreserve_confirm(cur.id);
        ELSE
            b := medreserve_cancel(cur.id);
        END IF;
        RETURN b.status;
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END \$\$;
    -- the consumer starts from an empty outbox: every event must reach it
    TRUNCATE medreserve.events CASCADE;
    SELECT name FROM medreserve_register_consumer('drain', from_start => true);
});

my $booker = $node->basedir . '/booker.sql';
PostgreSQL::Test::Utils::append_to_file($booker, qq{
\\set slot random(1, $slots)
\\set act random(1, 12)
\\set pause random(0, 25)
BEGIN;
\\if :act = 11
SELECT medreserve_expire();
\\else
SELECT drain_step(:slot, :act);
\\endif
\\sleep :pause ms
\\if :act = 12
ROLLBACK;
\\else
COMMIT;
\\endif
});
my $worker = $node->basedir . '/worker.sql';
PostgreSQL::Test::Utils::append_to_file($worker, q{
\set n random(1, 8)
WITH c AS (SELECT id FROM medreserve_claim_events('drain', :n))
INSERT INTO drained (worker, event_id) SELECT :client_id + 1, id FROM c ORDER BY id;
WITH mine AS (UPDATE drained SET acked = true WHERE worker = :client_id + 1 AND NOT acked
              RETURNING event_id)
SELECT medreserve_ack_events('drain', coalesce(array_agg(event_id), '{}'::bigint[])) FROM mine;
});

sub pgbench
{
	my ($script, @opts) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, @opts, '-f', $script, 'postgres' ],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish_ok
{
	my ($run, $what) = @_;
	$run->{h}->finish;
	is($run->{h}->result(0), 0, "$what ran without a client error")
	  or diag(${ $run->{err} });
}

# Drain what is left (as worker 0) until every event was handed out.
sub drain_rest
{
	for (1 .. 100)
	{
		$node->safe_psql('postgres', q{
            WITH c AS (SELECT id FROM medreserve_claim_events('drain', 1000))
            INSERT INTO drained (worker, event_id, acked) SELECT 0, id, true FROM c ORDER BY id;
            SELECT medreserve_ack_events('drain', 9223372036854775807)});
		return
		  if $node->safe_psql('postgres', q{
            SELECT count(*) FROM medreserve.events e
             WHERE NOT EXISTS (SELECT 1 FROM drained d WHERE d.event_id = e.id)}) eq '0';
	}
	fail('drained everything within 100 claims');
}

# Phase 1: bookers and workers at once.
my $bookers = pgbench($booker, '-c', 6, '-j', 2, '-t', 150);
my $workers = pgbench($worker, '-c', 3, '-j', 1, '-T', 8);
finish_ok($bookers, 'phase 1 bookers');
finish_ok($workers, 'phase 1 workers');
drain_rest();

# Phase 2: a transaction opened before a burst of bookings commits after it,
# holding the smallest event id of them all.  Nothing may be handed out
# until it commits (else its event would be skipped); then everything is.
my $late = $node->background_psql('postgres');
$late->query_safe('BEGIN');
$late->query_safe(q{SELECT count(*) FROM medreserve_add_slots(1, now() + interval '30 days', now() + interval '30 days', 15)});
my $late_event = $late->query_safe(q{SELECT max(id) FROM medreserve.events});
$bookers = pgbench($booker, '-c', 4, '-j', 2, '-t', 50);
finish_ok($bookers, 'phase 2 bookers');
cmp_ok($node->safe_psql('postgres', qq{SELECT count(*) FROM medreserve.events WHERE id > $late_event}),
	'>', 0, 'events with larger ids committed before the late transaction');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve_claim_events('drain')}),
	'0', 'nothing is handed out while an older transaction with events is open');
$late->query_safe('COMMIT');
$late->quit;
$workers = pgbench($worker, '-c', 3, '-j', 1, '-T', 3);
finish_ok($workers, 'phase 2 workers');
drain_rest();
is($node->safe_psql('postgres', qq{SELECT count(*) FROM drained WHERE event_id = $late_event}),
	'1', 'the late transaction\'s event was handed out once');

my $counts = $node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM audit), (SELECT count(*) FROM medreserve.events WHERE booking_id IS NOT NULL),
           (SELECT count(DISTINCT worker) FROM drained WHERE worker > 0),
           (SELECT count(*) FROM drained WHERE worker > 0)});
diag("audit rows, booking events, workers that drained, events drained by workers: $counts");
my ($audited, $booking_events, $busy_workers, $by_workers) = split /\|/, $counts;
cmp_ok($audited, '>', 300, 'the bookers made many transitions');
cmp_ok($busy_workers, '>=', 2, 'several workers drained concurrently');

is($node->safe_psql('postgres', q{
    WITH a AS (SELECT booking_id, status, count(*) AS n FROM audit GROUP BY 1, 2),
         e AS (SELECT booking_id, status, count(*) AS n FROM medreserve.events
                WHERE booking_id IS NOT NULL GROUP BY 1, 2)
    SELECT count(*) FROM a FULL JOIN e USING (booking_id, status)
     WHERE a.n IS DISTINCT FROM e.n}),
	'0', 'every committed transition has exactly one event, and every event a transition');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM (SELECT event_id FROM drained GROUP BY event_id HAVING count(*) > 1) twice}),
	'0', 'no event was handed out twice');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM medreserve.events e WHERE NOT EXISTS (SELECT 1 FROM drained d WHERE d.event_id = e.id)}),
	'0', 'no event was skipped');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM drained d WHERE NOT EXISTS (SELECT 1 FROM medreserve.events e WHERE e.id = d.event_id)}),
	'0', 'nothing was handed out that is not an event');
cmp_ok($node->safe_psql('postgres', q{
    SELECT count(*) FROM (
        SELECT id, pg_xact_commit_timestamp(xmin) AS committed,
               max(pg_xact_commit_timestamp(xmin)) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_before
          FROM medreserve.events) e
     WHERE committed < latest_before}),
	'>', 0, 'events committed out of id order (the gap trap was set)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve.event_deliveries}),
	'0', 'every claim was acknowledged');
invariants_hold($node, 'postgres', 'after the drain');

# The doorbell: it rings just before a transaction with events commits, when
# a consumer's claim came back short (it is caught up and waits), once; while
# the consumer has not claimed again, bookers do not ring.
my $free = $node->safe_psql('postgres', q{
    SELECT s.id FROM medreserve.slots s WHERE s.start_time > now()
       AND NOT EXISTS (SELECT 1 FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id)
     ORDER BY s.id LIMIT 4});
my @free = split /\n/, $free;
my $out = $node->safe_psql('postgres', qq{
    LISTEN medreserve_events;
    SELECT count(*) FROM medreserve_claim_events('drain');
    SELECT max(id) AS before FROM medreserve.events \\gset
    BEGIN;
    SELECT status FROM medreserve_hold($free[0], 'Bob Marsh');
    SELECT status FROM medreserve_book($free[1], 'Cy Park');
    COMMIT;
    SELECT 'first ' || min(id) FROM medreserve.events WHERE id > :'before';
    SELECT status FROM medreserve_book($free[2], 'Dee Dow');
    SELECT count(*) FROM medreserve_claim_events('drain');
    SELECT status FROM medreserve_book($free[3], 'Eve Ek');
    SELECT 'last ' || max(id) FROM medreserve.events;
    SELECT 1;});
my @bells = $out =~ /Asynchronous notification "medreserve_events" with payload "(\d+)"/g;
my ($first) = $out =~ /^first (\d+)$/m;
my ($last) = $out =~ /^last (\d+)$/m;
is(scalar(@bells), 2, 'two rings: after each short claim, the next transaction with events')
  or diag($out);
is($bells[0], $first, 'the first ring carries the first event id of its transaction');
is($bells[1], $last, 'the booking after the consumer claimed again rings; the one before did not');
done_testing();
