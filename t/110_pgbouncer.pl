# medreserve behind PgBouncer (Debian's, 1.18) in transaction pooling mode:
# many clients share a few server connections, so one backend serves many
# clients' transactions in turn.  What must hold, and what this proves:
#
# - booking and holds: 16 clients race for 40 slots through 2 server
#   connections; every refusal is 23505, every slot tried has exactly one
#   live booking, the invariants hold;
# - identity as PostgREST sets it (SET LOCAL ROLE + set_config(..., true)
#   inside the transaction): 8 patients on 2 shared backends each see and
#   book only under their own email; another patient's booking is 404;
#   the claim of one client's transaction is gone in the next client's;
# - per-role settings: ALTER ROLE ... SET medreserve.hold_duration applies
#   to the login role of the pool (each pool logs in as its client's role),
#   is not applied by SET LOCAL ROLE (PostgREST passes it per transaction),
#   and reaches open server connections only after RECONNECT;
# - kept plans: a statement prepared (SPI_keepplan) during one client's call
#   is reused, not prepared again, for the next client on that backend;
# - what does not work: a session-level SET leaks to the next client of the
#   server connection (README: Operations -> Connection pooling).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use IPC::Run;
use MedReserveTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($pgbouncer) = grep { -x $_ } map { "$_/pgbouncer" } split(/:/, $ENV{PATH}), '/usr/sbin';
die "pgbouncer is not installed (apt-get install pgbouncer)" unless $pgbouncer;

my $node = medreserve_node('bouncer');
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

# Roles: an application login in medreserve_patient (the kiosk), and
# PostgREST's: a NOINHERIT authenticator that switches to web_patient.
$node->safe_psql('postgres', q{
    CREATE ROLE clinic_app LOGIN IN ROLE medreserve_patient;
    ALTER ROLE clinic_app SET medreserve.hold_duration = '7min';
    CREATE ROLE authenticator LOGIN NOINHERIT;
    CREATE ROLE web_patient NOLOGIN IN ROLE medreserve_patient;
    ALTER ROLE web_patient SET medreserve.hold_duration = '5min';
    GRANT web_patient TO authenticator;
    GRANT medreserve_gateway TO authenticator;  -- a claim counts only through a gateway
    SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
    SELECT medreserve_add_doctor('Dr Ben Ode', 'dermatology');
    SELECT count(*) FROM medreserve_add_slots(1, date_trunc('hour', now()) + interval '2 days',
        date_trunc('hour', now()) + interval '2 days' + 39 * interval '15 minutes', 15);
    SELECT count(*) FROM medreserve_add_slots(2, date_trunc('hour', now()) + interval '2 days',
        date_trunc('hour', now()) + interval '2 days' + 59 * interval '15 minutes', 15);
});
my @race_slots = split /\n/, $node->safe_psql('postgres',
	'SELECT id FROM medreserve.slots WHERE doctor_id = 1 ORDER BY id');
my @own_slots = split /\n/, $node->safe_psql('postgres',
	'SELECT id FROM medreserve.slots WHERE doctor_id = 2 ORDER BY id');

# PgBouncer: alias "clinic" pools 2 server connections per role, "clinic1"
# one, to the node's Unix socket.
my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my ($host, $port) = ($node->host, $node->port);
open my $ul, '>', "$dir/userlist.txt" or die $!;
print $ul qq{"$_" ""\n} for ($superuser, 'clinic_app', 'authenticator');
close $ul;
# The [pgbouncer] settings of examples/pgbouncer.ini, with the addresses,
# authentication and log of this test.
my %override = (
	listen_addr => '127.0.0.1',
	listen_port => $bport,
	unix_socket_dir => $dir,
	auth_type => 'trust',
	auth_file => "$dir/userlist.txt",
	admin_users => $superuser,
	stats_users => $superuser,
	default_pool_size => 2,
	logfile => "$dir/pgbouncer.log");
my ($section, @settings) = ('');
open my $example, '<', "$FindBin::RealBin/../examples/pgbouncer.ini" or die $!;
while (<$example>)
{
	$section = $1 if /^\[(\w+)\]/;
	push @settings, [ $1, $2 ] if $section eq 'pgbouncer' && /^(\w+)\s*=\s*(.*?)\s*$/;
}
close $example;
my %seen = map { $_->[0] => 1 } @settings;
is(join(',', map { $_->[1] } grep { $_->[0] eq 'pool_mode' } @settings), 'transaction',
	'examples/pgbouncer.ini pools by transaction');
open my $ini, '>', "$dir/pgbouncer.ini" or die $!;
print $ini "[databases]\n",
  "clinic = host=$host port=$port dbname=postgres pool_size=2\n",
  "clinic1 = host=$host port=$port dbname=postgres pool_size=1\n\n[pgbouncer]\n";
print $ini "$_->[0] = " . ($override{ $_->[0] } // $_->[1]) . "\n" for @settings;
print $ini "$_ = $override{$_}\n" for grep { !$seen{$_} } sort keys %override;
close $ini;
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'>', "$dir/stdout.log", '2>', "$dir/stderr.log");

# psql through PgBouncer: (exit code, stdout, stderr); errors carry their
# SQLSTATE (VERBOSITY verbose).
sub bq
{
	my ($db, $user, $sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', $bport,
			'-U', $user, '-d', $db, '-v', 'VERBOSITY=verbose' ],
		'<', \$sql, '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out, $err);
}
sub bq_ok
{
	my ($db, $user, $sql) = @_;
	my ($rc, $out, $err) = bq($db, $user, "\\set ON_ERROR_STOP 1\n$sql");
	die "psql through pgbouncer failed ($rc): $err" if $rc != 0;
	return $out;
}

# Wait for PgBouncer to accept connections (its admin console answers).
my $up = 0;
for (1 .. 300)
{
	my ($rc) = bq('pgbouncer', $superuser, 'SHOW VERSION;');
	if ($rc == 0) { $up = 1; last; }
	die "pgbouncer exited: " . slurp_file("$dir/stderr.log") unless $bouncer->pumpable;
	select(undef, undef, undef, 0.1);
}
ok($up, 'pgbouncer accepts connections') or BAIL_OUT(slurp_file("$dir/stderr.log"));

# A client in the background: psql runs SQL (written to a file, so the
# client does not wait for this process to feed it) through PgBouncer.
my $nscript = 0;
sub start_client
{
	my ($db, $user, $sql, $out, $err) = @_;
	my $file = "$dir/client" . ++$nscript . '.sql';
	open my $fh, '>', $file or die $!;
	print $fh $sql;
	close $fh;
	($$out, $$err) = ('', '');
	return IPC::Run::start([ 'psql', '-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', $bport,
			'-U', $user, '-d', $db, '-v', 'VERBOSITY=verbose', '-f', $file ],
		'<', \undef, '>', $out, '2>', $err);
}

# One transaction as PostgREST runs a request for a patient.
sub as_patient
{
	my ($email, $sql) = @_;
	return qq{BEGIN;
SET LOCAL ROLE web_patient;
SELECT set_config('request.jwt.claims', '{"role":"web_patient","email":"$email"}', true) \\g /dev/null
$sql
COMMIT;
};
}

# --- per-role settings ------------------------------------------------------
is(bq_ok('clinic', 'clinic_app', qq{BEGIN;
    SELECT expires_at - now() FROM medreserve_hold($own_slots[50], 'Kiosk Hold');
    COMMIT;}),
	'00:07:00', 'the pool of a login role applies its ALTER ROLE setting (7min)');
is(bq_ok('clinic1', 'authenticator',
		as_patient('ann@example.org', qq{SELECT expires_at - now() FROM medreserve_hold($own_slots[51], 'Ann Lee');})),
	'00:02:00',
	'SET LOCAL ROLE web_patient does not apply web_patient\'s settings (the default 2min)');
is(bq_ok('clinic1', 'authenticator',
		as_patient('ann@example.org', qq{SELECT set_config('medreserve.hold_duration', '5min', true) \\g /dev/null
SELECT expires_at - now() FROM medreserve_hold($own_slots[52], 'Ann Lee');})),
	'00:05:00', 'set_config(..., true) in the transaction, as PostgREST passes role settings, does');
is(bq_ok('clinic1', 'authenticator', q{SELECT current_setting('medreserve.hold_duration')}),
	'2min', 'and is gone for the next transaction on that server connection');

# --- many clients, few server connections: booking and holds ------------------
# pool(DB, USER): PgBouncer's SHOW POOLS row of that pool, as a hash.
sub pool
{
	my ($db, $user) = @_;
	my ($rc, $out) = bq('pgbouncer', $superuser, "\\pset tuples_only off\nSHOW POOLS;");
	my ($head, @rows) = split /\n/, $out;
	my @cols = split /\|/, $head // '';
	for my $row (@rows)
	{
		my %r;
		@r{@cols} = split /\|/, $row;
		return \%r if ($r{database} // '') eq $db && ($r{user} // '') eq $user;
	}
	return {};
}

# run_together(DB, USER, SCRIPTS...): one client per script, started
# together.  Each script's first statement waits for an advisory lock a
# direct session holds, so the pool's 2 server connections are taken and
# the other clients queue in PgBouncer; once all are connected (SHOW POOLS)
# the lock is released.  Returns one test and the clients' stdout and stderr.
sub run_together
{
	my ($db, $user, @scripts) = @_;
	my $barrier = $node->background_psql('postgres');
	$barrier->query_safe('SELECT pg_advisory_lock(4242)');
	my (@h, @out, @err);
	for my $k (0 .. $#scripts)
	{
		push @h, start_client($db, $user,
			"SELECT pg_advisory_xact_lock_shared(4242) \\g /dev/null\n" . $scripts[$k],
			\$out[$k], \$err[$k]);
	}
	my ($queued, $p) = (0, {});
	for (1 .. 600)
	{
		$p = pool($db, $user);
		if (($p->{cl_active} // 0) + ($p->{cl_waiting} // 0) == @scripts
			&& ($p->{sv_active} // 0) == 2)
		{
			$queued = 1;
			last;
		}
		select(undef, undef, undef, 0.1);
	}
	ok($queued, scalar(@scripts) . " clients of $user connected at once: 2 on server connections, "
		  . ($p->{cl_waiting} // '?') . ' waiting in pgbouncer');
	$barrier->query_safe('SELECT pg_advisory_unlock(4242)');
	$barrier->quit;
	$_->finish for @h;
	return (\@out, \@err);
}

my $clients = 16;
my $attempts = 25;
my (%tried, @scripts);
for my $k (1 .. $clients)
{
	my $sql = '';
	for my $i (0 .. $attempts - 1)
	{
		my $slot = $race_slots[ ($k * 7 + $i * 3) % @race_slots ];
		$tried{$slot} = 1;
		my $fn = $i % 2 ? 'medreserve_hold' : 'medreserve_book';
		$sql .= "SELECT 'ok ' || status FROM $fn($slot, 'Client $k');\n";
	}
	push @scripts, $sql;
}
my ($out, $err) = run_together('clinic', 'clinic_app', @scripts);
my ($won, $refused, $other) = (0, 0, 0);
for my $k (0 .. $clients - 1)
{
	$won += () = $out->[$k] =~ /^ok (CONFIRMED|PENDING)$/mg;
	for my $line (grep { /\bERROR:/ } split /\n/, $err->[$k])
	{
		if ($line =~ /\bERROR:  23505: slot \d+ is already (booked|held)$/) { $refused++ }
		else { $other++; diag($line) }
	}
}
is($won + $refused, $clients * $attempts, 'every attempt either won or was refused');
is($other, 0, 'every refusal in the race is 23505');
is($won, scalar(keys %tried), 'each slot tried was won exactly once');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM medreserve.bookings
     WHERE patient_name LIKE 'Client %' AND medreserve.booking_is_live(status, expires_at)}),
	scalar(keys %tried), 'one live booking per slot tried');
invariants_hold($node, 'postgres', 'after the race through pgbouncer');
my $backends = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'clinic_app'});
is($backends, 2, "$clients clients were served by 2 server connections (pool_size 2)");

# --- identity, as PostgREST sets it, across shared backends ---------------------
my $vic = $node->safe_psql('postgres',
	qq{SELECT id FROM medreserve_book($own_slots[59], 'Vic Tor', 'vic\@example.org')});
my $patients = 8;
my $rounds = 3;
@scripts = ();
for my $k (1 .. $patients)
{
	my $email = "p$k\@example.org";
	my $sql = '';
	for my $r (0 .. $rounds - 1)
	{
		my $slot = $own_slots[ ($k - 1) * $rounds + $r ];
		$sql .= as_patient($email, "SELECT id AS hid FROM medreserve_hold($slot, 'Patient $k') \\gset");
		$sql .= as_patient($email, "SELECT 'confirmed ' || status FROM medreserve_confirm(:hid);");
		$sql .= as_patient($email, "SELECT medreserve_cancel($vic);");
		$sql .= as_patient($email, "SELECT 'mine ' || count(*) FROM medreserve_my_bookings();");
	}
	push @scripts, $sql;
}
($out, $err) = run_together('clinic', 'authenticator', @scripts);
my ($confirmed, $notfound, $bad, $counts_right) = (0, 0, 0, 0);
for my $k (0 .. $patients - 1)
{
	$confirmed += () = $out->[$k] =~ /^confirmed CONFIRMED$/mg;
	my @mine = $out->[$k] =~ /^mine (\d+)$/mg;
	$counts_right++ if "@mine" eq join(' ', 1 .. $rounds);
	for my $line (grep { /\bERROR:/ } split /\n/, $err->[$k])
	{
		if ($line =~ /\bERROR:  PT404: booking $vic does not exist$/) { $notfound++ }
		else { $bad++; diag($line) }
	}
}
is($confirmed, $patients * $rounds, 'every patient held and confirmed their own slots');
is($notfound, $patients * $rounds, 'another patient\'s booking is PT404 every time');
is($bad, 0, 'no other error');
is($counts_right, $patients, 'each patient lists exactly their own bookings, round after round');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM medreserve.bookings
     WHERE patient_name LIKE 'Patient %'
       AND patient_email IS DISTINCT FROM 'p' || substr(patient_name, 9) || '@example.org'}),
	'0', 'every booking carries the email of the client that made it');
is($node->safe_psql('postgres', "SELECT status FROM medreserve.bookings WHERE id = $vic"),
	'CONFIRMED', 'the other patient\'s booking was not cancelled');
$backends = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'authenticator'});
is($backends, 3, "$patients patients were served by 3 server connections (2 of clinic, 1 of clinic1)");

# The claim set with is_local = true ends with its transaction: the next
# client on the same server connection (clinic1: one) has no identity.
my ($pid1) = bq_ok('clinic1', 'authenticator',
	as_patient('ann@example.org', 'SELECT pg_backend_pid();'));
my $rc;
($rc, $out, $err) = bq('clinic1', 'authenticator', q{BEGIN;
SET LOCAL ROLE web_patient;
SELECT pg_backend_pid(), coalesce(current_setting('request.jwt.claims', true), '');
SELECT count(*) FROM medreserve_my_bookings();
COMMIT;});
is($out, "$pid1|", 'the next client on that backend sees no claim');
like($err, qr/ERROR:  42501: /, 'and without a claim it may not list bookings (42501)');

# --- kept plans across clients -----------------------------------------------------
# The superuser's pool of clinic1 has one server connection: two clients in
# turn get the same backend, and the second one's booking reuses the plan
# the first one's prepared (a free slot is booked by 'book unused slot').
my $plans = q{SELECT count(*) FROM pg_backend_memory_contexts
               WHERE name = 'CachedPlanSource' AND ident LIKE '/* medreserve: book unused slot */%'};
my ($pid_a) = split /\n/, bq_ok('clinic1', $superuser,
	"SELECT pg_backend_pid();\n$plans;\nSELECT status FROM medreserve_book($own_slots[40], 'First Client');\n");
my @b = split /\n/, bq_ok('clinic1', $superuser,
	"SELECT pg_backend_pid();\n$plans;\nSELECT status FROM medreserve_book($own_slots[41], 'Second Client');\n$plans;\n");
is($b[0], $pid_a, 'the second client got the first client\'s backend');
is($b[1], '1', 'the booking statement the first client prepared is kept for the second');
is($b[2], 'CONFIRMED', 'the second client books with it');
is($b[3], '1', 'and it is reused, not prepared again');

# --- per-role settings and open server connections --------------------------
$node->safe_psql('postgres', q{ALTER ROLE clinic_app SET medreserve.hold_duration = '8min'});
is(bq_ok('clinic', 'clinic_app', qq{BEGIN;
    SELECT expires_at - now() FROM medreserve_hold($own_slots[53], 'Kiosk Hold');
    COMMIT;}),
	'00:07:00', 'ALTER ROLE does not reach server connections already open');
bq_ok('pgbouncer', $superuser, 'RECONNECT clinic;');
is(bq_ok('clinic', 'clinic_app', qq{BEGIN;
    SELECT expires_at - now() FROM medreserve_hold($own_slots[54], 'Kiosk Hold');
    COMMIT;}),
	'00:08:00', 'after RECONNECT the new server connections apply it');

# --- what cannot work: session state leaks to the next client ---------------
bq_ok('clinic1', 'clinic_app', q{SET medreserve.hold_duration = '9min';});
is(bq_ok('clinic1', 'clinic_app', q{SELECT current_setting('medreserve.hold_duration');}),
	'9min', 'a session-level SET leaks to the next client of the server connection');

invariants_hold($node, 'postgres', 'at the end');
$bouncer->signal('INT');
$bouncer->finish;
$node->stop;
done_testing();
