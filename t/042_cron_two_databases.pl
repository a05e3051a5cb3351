# The expiry job belongs to its database (issue 9 §4).  pg_cron lives in
# database clinic_a (cron.database_name); medreserve is in clinic_a and
# clinic_b.  clinic_a schedules its own sweep; clinic_b is swept by a job
# made from clinic_a with cron.schedule_in_database, as the error hint in
# clinic_b says.  Scheduling again in clinic_a never touches clinic_b's job;
# each database's health reports its own job and its last sweep; a database
# with pg_cron but no job is "degraded".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('cron', pg_cron => 1, dbname => 'clinic_a', cron_db => 'clinic_a',
	conf => "cron.log_run = on\n");
$node->safe_psql('postgres', 'CREATE DATABASE clinic_b');
$node->safe_psql('clinic_b', 'CREATE EXTENSION medreserve CASCADE');
$node->safe_psql('clinic_a', 'CREATE EXTENSION pg_cron');

is($node->safe_psql('clinic_a', q{SELECT medreserve_health()->>'status'}), 'degraded',
	'with pg_cron and no sweep job, health is degraded');
like($node->safe_psql('clinic_a', q{SELECT medreserve_health()->>'problems'}),
	qr/no pg_cron job sweeps this database/, 'and names the missing job');

# clinic_b cannot schedule itself; the hint gives the command to run in clinic_a
my ($rc, $out, $err) = $node->psql('clinic_b', q{\set VERBOSITY verbose
SELECT medreserve_schedule_expiry()});
like($err, qr/55000: pg_cron is not installed in database clinic_b/, 'clinic_b: 55000 without pg_cron');
my ($hint) = $err =~ /HINT:  In database clinic_a, run: (.*;)/;
ok(defined $hint, 'the hint gives the command to run in clinic_a');
$node->safe_psql('clinic_a', $hint);

my $job_a = $node->safe_psql('clinic_a', q{SELECT medreserve_schedule_expiry()});
my $jobs = $node->safe_psql('clinic_a',
	q{SELECT string_agg(jobname || '@' || database || ' ' || command, E'\n' ORDER BY jobname) FROM cron.job});
is($jobs, "medreserve-expire:clinic_a\@clinic_a CALL public.medreserve_run_expiry()\n"
	  . "medreserve-expire:clinic_b\@clinic_b CALL public.medreserve_run_expiry()",
	'one job per database, each calling the procedure in its own database');
is($node->safe_psql('clinic_a', q{SELECT medreserve_schedule_expiry('*/2 * * * *')}), $job_a,
	'scheduling again in clinic_a replaces its own job');
is($node->safe_psql('clinic_a',
		q{SELECT schedule FROM cron.job WHERE jobname = 'medreserve-expire:clinic_b'}),
	'* * * * *', 'and leaves clinic_b\'s job alone');
$node->safe_psql('clinic_a', q{SELECT medreserve_schedule_expiry('* * * * *')});
is($node->safe_psql('clinic_a', q{SELECT medreserve_health()->'expiry_job'->>'name'}),
	'medreserve-expire:clinic_a', 'clinic_a\'s health reports its own job');

# a lapsed hold in each database; pg_cron (minute granularity) sweeps both
for my $db (qw(clinic_a clinic_b))
{
	$node->safe_psql($db, q{
        SELECT medreserve_add_doctor('Dr Ada Grey');
        SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                                  now() + interval '1 day', 15);
        SET medreserve.hold_duration = '1s';
        SELECT medreserve_hold(1, 'Ann Lee');
    });
}
for my $db (qw(clinic_a clinic_b))
{
	ok($node->poll_query_until($db,
			q{SELECT (medreserve_health()->'last_sweep'->>'holds_expired')::int >= 1}, 't'),
		"the job sweeps $db (health shows the last sweep)");
	is($node->safe_psql($db, q{SELECT status FROM medreserve.bookings}), 'FAILED',
		"$db: the lapsed hold is settled");
	invariants_hold($node, $db, "in $db after the sweep");
}
is($node->safe_psql('clinic_a', q{SELECT medreserve_health()->>'status'}), 'ok',
	'clinic_a is healthy with its job');
is($node->safe_psql('clinic_b', q{SELECT medreserve_health()->'expiry_job'->>'pg_cron_installed'}),
	'false', 'clinic_b cannot see pg_cron and says so');

ok($node->safe_psql('clinic_a', q{SELECT medreserve_unschedule_expiry()}) eq 't',
	'clinic_a unschedules its job');
is($node->safe_psql('clinic_a', q{SELECT string_agg(jobname, ',') FROM cron.job}),
	'medreserve-expire:clinic_b', 'clinic_b\'s job stays');
done_testing();
