# The slot horizon kept by pg_cron (issue 12): the generation job, scheduled
# with medreserve_schedule_generation(), runs in this database and makes the
# slots the working hours call for up to medreserve.slot_horizon; health
# reports the job; unscheduling removes it; the invariants hold.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('generation', pg_cron => 1);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

# Working hours every day from tomorrow, 10:00-11:00 UTC in 30-minute slots.
# Setting them generates at once, up to the session's horizon: one day here.
$node->safe_psql('postgres', q{
    SET medreserve.slot_horizon = '1 day';
    SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology', 'UTC');
    SELECT count(*) FROM generate_series(1, 7) AS d,
           medreserve_set_working_hours(1, d, '10:00', '11:00', 30, CURRENT_DATE + 1);
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM medreserve.slots'),
	'2', 'setting working hours generated up to the session horizon only');

# The job's sessions read the database's setting.
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET medreserve.slot_horizon = '3 weeks'});

my $job = $node->safe_psql('postgres', q{SELECT medreserve_schedule_generation('* * * * *')});
is($node->safe_psql('postgres', q{SELECT medreserve_schedule_generation('* * * * *')}),
	$job, 'scheduling again replaces the job');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) OVER (), jobname, schedule, command, database FROM cron.job}),
	'1|medreserve-generate:postgres|* * * * *|SELECT public.medreserve_generate_slots()|postgres',
	'one job for this database, named after it');

ok( $node->poll_query_until(
		'postgres', q{
    SELECT count(*) = 42 AND max(start_time::date) = CURRENT_DATE + 21
      FROM medreserve.slots}),
	'the job made the slots up to the horizon (21 days, 2 a day)')
  or diag $node->safe_psql('postgres',
	'SELECT status, return_message FROM cron.job_run_details ORDER BY runid');

is( $node->safe_psql(
		'postgres', q{
    SELECT count(*) FILTER (WHERE generated), count(DISTINCT start_time),
           count(*) FILTER (WHERE start_time::time NOT IN ('10:00', '10:30'))
      FROM medreserve.slots}),
	'42|42|0', 'all generated, no duplicates, all inside the working hours');

ok( $node->poll_query_until(
		'postgres', q{
    SELECT NOT (h->>'problems' ~ 'generation|horizon')
       AND h->>'status' <> 'error'
       AND h->'generation'->'job'->>'last_run_status' = 'succeeded'
       AND (h->'generation'->>'generated_until')::date = CURRENT_DATE + 21
      FROM medreserve_health() AS h}),
	'health reports the job, its successful run and the horizon reached');

# A later run finds nothing to do: generation is idempotent.  (The run that
# made the slots is one successful run; wait for a second.)
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) >= 2 FROM cron.job_run_details WHERE status = 'succeeded'}),
	'the job ran again');
is($node->safe_psql('postgres', 'SELECT count(*), max(last_created) FROM medreserve.slots, medreserve.generation_state'),
	'42|0', 'the second run made nothing');

is($node->safe_psql('postgres', 'SELECT medreserve_unschedule_generation()'),
	't', 'unscheduling removes the job');
is($node->safe_psql('postgres', 'SELECT medreserve_unschedule_generation()'),
	'f', 'unscheduling again finds none');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'no job is left');

invariants_hold($node, 'postgres', 'after the generation job');
$node->stop;
done_testing();
