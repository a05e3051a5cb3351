# No patient name or email reaches the server log: refused calls hide their
# statement, and the sweep logs counts only.  A control error raised outside
# medreserve proves that the log is really read (its statement is logged).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

# log_statement = none is PostgreSQL's default; the test framework sets all
my $node = medreserve_node('privacy', conf => "log_statement = none\nlog_min_error_statement = error\n");
my $db = 'postgres';
my $marker = 'Zelda Quist-' . int(rand(1e9));
my $email = 'zq' . int(rand(1e9)) . '@example.org';
my $control = 'Control Case-' . int(rand(1e9));

$node->safe_psql($db, q{
	INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
	INSERT INTO medreserve.slots (doctor_id, start_time)
	SELECT 1, now() + i * interval '1 hour' FROM generate_series(1, 3) i;
	INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() - interval '1 hour');
	SELECT id FROM medreserve_book(1, 'Ann Lee');});
my $offset = -s $node->logfile;

# one refusal of each kind, each carrying the marker name and email
my %refusal = (
	'slot taken'       => [ "medreserve_book(1, '$marker', '$email')",            '23505' ],
	'bad email'        => [ "medreserve_book(2, '$marker', 'bad-$email\@')",      '22023' ],
	'missing slot'     => [ "medreserve_book(4242, '$marker', '$email')",         'PT404' ],
	'started slot'     => [ "medreserve_book(4, '$marker', '$email')",            'PT409' ],
	'repeated slot'    => [ "medreserve_book(ARRAY[2, 2], '$marker', '$email')",  '22023' ],
	'null slot'        => [ "medreserve_hold(NULL::int, '$marker', '$email')",    '22004' ]);
for my $what (sort keys %refusal)
{
	my ($call, $state) = @{ $refusal{$what} };
	like(sql_error($node, $db, "SELECT $call"), qr/^$state: /, "$what is refused with $state");
}
# a lapsed hold under the marker name, settled by the sweep (which logs)
$node->safe_psql($db, qq{
	SELECT id FROM medreserve_hold(3, '$marker', '$email');
	UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE slot_id = 3;});
is($node->safe_psql($db, 'SELECT medreserve_expire()'), '1', 'the sweep settles the lapsed hold');
# control: an error raised outside medreserve is logged with its statement
$node->psql($db, "SELECT 1/0, '$control'");
$node->wait_for_log(qr/\Q$control\E/, $offset);
pass("the control error's statement is in the log (the log is read)");

my $log = slurp_file($node->logfile, $offset);
like($log, qr/ERROR:  slot 1 is already booked/, 'refusals were logged as errors');
like($log, qr/medreserve: 1 lapsed holds? marked failed/, 'the sweep logged its counts');
unlike($log, qr/\Q$marker\E/, 'no patient name in the log');
unlike($log, qr/\Q$email\E/, 'no patient email in the log');
done_testing();
