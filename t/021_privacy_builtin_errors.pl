# No patient data in the server log from errors that PostgreSQL itself
# raises during a medreserve call (issue 9 §5): permission denied (42501),
# an ambiguous call (42725), malformed claims (22P02), lock_timeout (55P03)
# and statement_timeout (57014).  Each call carries a unique patient name and
# email; none may appear in the log.  A control error from a statement that
# does not mention medreserve must appear, proving the log is really read.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('privacy',
	conf => "log_statement = none\nlog_min_error_statement = error\nlog_error_verbosity = verbose\n");
$node->safe_psql('postgres', q{
    CREATE ROLE mr_nobody LOGIN;
    CREATE ROLE mr_web LOGIN IN ROLE medreserve_patient;
    SELECT medreserve_add_doctor('Dr Ada Grey');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                              now() + interval '1 day 2 hours', 15);
});

my $log_start = -s $node->logfile;
my %sqlstate;

sub refused
{
	my ($what, $sql, $user, $want) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user // 'postgres' ]);
	like($err, qr/ERROR:  $want/, "$what is refused with $want");
}

refused('a call without EXECUTE',
	q{SELECT medreserve_book(1, 'Secret Permission', 'secret.permission@example.org')},
	'mr_nobody', '42501');
refused('an ambiguous untyped NULL',
	q{SELECT medreserve_book(NULL, 'Secret Ambiguous', 'secret.ambiguous@example.org')},
	undef, '42725');
refused('malformed claims through the gateway',
	q{SET ROLE mr_web;
	  SET request.jwt.claims = 'not json';
	  SELECT medreserve_hold(2, 'Secret Claims', 'secret.claims@example.org')},
	undef, '22P02');

# lock_timeout and statement_timeout: another session holds the slot's lock
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('SELECT id FROM medreserve.slots WHERE id = 3 FOR UPDATE');
refused('a booking that waits past lock_timeout',
	q{SET lock_timeout = '100ms';
	  SELECT medreserve_book(3, 'Secret Locktimeout', 'secret.locktimeout@example.org')},
	undef, '55P03');
refused('a booking that runs past statement_timeout',
	q{SET statement_timeout = '100ms';
	  SELECT medreserve_book(3, 'Secret Statementtimeout', 'secret.statementtimeout@example.org')},
	undef, '57014');
$locker->query_safe('ROLLBACK');
$locker->quit;

# the control: a statement that does not mention medreserve is logged
refused('the control statement', q{SELECT 1/0 AS control_marker_4711}, undef, '22012');
$node->wait_for_log(qr/control_marker_4711/, $log_start);

my $log = slurp_file($node->logfile, $log_start);
ok($log =~ /STATEMENT:  SELECT 1\/0 AS control_marker_4711/, 'the control statement is in the log');
for my $code (qw(42501 42725 22P02 55P03 57014))
{
	like($log, qr/ERROR:  $code:/, "the $code error itself is logged");
}
for my $secret (qw(Permission Ambiguous Claims Locktimeout Statementtimeout))
{
	unlike($log, qr/Secret $secret/i, "no patient name from the $secret case in the log");
	unlike($log, qr/secret\.\L$secret\E\@/i, "no patient email from the $secret case in the log");
}
invariants_hold($node, 'postgres', 'after the refusals');
done_testing();
