# End to end: pg_cron runs the sweep.  Schedules the job, leaves a hold to
# lapse, waits (bounded, by polling) for pg_cron to record a successful run
# after the lapse, and checks the hold is FAILED and its slot free.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = 'clinic';
my $node = medreserve_node('cron', pg_cron => 1, dbname => $db, extension => 0);
$node->safe_psql($db, q{
	SET client_min_messages = warning;
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION medreserve CASCADE;
	INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
	INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() + interval '1 day');});

my $job = $node->safe_psql($db, 'SELECT medreserve_schedule_expiry()');
is($node->safe_psql($db, 'SELECT medreserve_schedule_expiry()'), $job, 'scheduling again replaces the job');
my $cron_version = $node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'});
my $schedule = $cron_version =~ /^1\.[0-4]\b/ ? '* * * * *' : '30 seconds';
is($node->safe_psql($db, q{SELECT count(*) OVER (), jobname, database, schedule, command FROM cron.job}),
	"1|medreserve-expire:$db|$db|$schedule|CALL public.medreserve_run_expiry()",
	"one job, of this database, on the default schedule for pg_cron $cron_version");

my $booking = $node->safe_psql($db, q{
	SET medreserve.hold_duration = '1s';
	SELECT id FROM medreserve_hold(1, 'Ann Lee')});
my $lapsed_at = $node->safe_psql($db, "SELECT expires_at FROM medreserve.bookings WHERE id = $booking");
note "hold $booking lapses at $lapsed_at; waiting for pg_cron to run the sweep";
ok( $node->poll_query_until($db, qq{
		SELECT count(*) > 0 FROM cron.job_run_details
		 WHERE jobid = $job AND status = 'succeeded' AND start_time > '$lapsed_at'}),
	'pg_cron recorded a successful sweep after the hold lapsed');
is($node->safe_psql($db, "SELECT status FROM medreserve.bookings WHERE id = $booking"),
	'FAILED', 'the sweep marked the hold FAILED');
is($node->safe_psql($db, 'SELECT count(*) FROM medreserve.booking_slots WHERE slot_id = 1'),
	'0', 'the slot is free again');
is($node->safe_psql($db, q{SELECT h->>'status', h->'expiry_job'->>'scheduled', h->'expiry_job'->>'last_run_status'
                             FROM medreserve_health() h}),
	'ok|true|succeeded', 'health sees the job and its successful run');
is($node->safe_psql($db, 'SELECT medreserve_unschedule_expiry()'), 't', 'unscheduling removes the job');
is($node->safe_psql($db, 'SELECT medreserve_unschedule_expiry()'), 'f', 'unscheduling again finds nothing');
invariants_hold($node, $db, 'after the sweeps');
done_testing();
