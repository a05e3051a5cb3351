# pg_dump and pg_restore carry the clinic over whole.
#
# The extension's four tables and their sequences are registered with
# pg_extension_config_dump, so a dump of a database must bring their rows
# (the tables themselves are made by CREATE EXTENSION on restore).  This test
#   1. builds a database with doctors, slots (one already started) and
#      bookings in every status: PENDING live, PENDING lapsed and unswept,
#      CONFIRMED (at once, and by confirming a hold), FAILED (by the sweep,
#      and released lazily by a later booking), CANCELLED (a booking and a
#      hold), single- and multi-slot, a rolled-back booking that used up an
#      id; login roles under medreserve_admin/medreserve_patient and a DBA's
#      own change to an extension function's grants;
#   2. pg_dump -Fc, then pg_restore into a fresh database: serially; in
#      parallel (-j 2) with the extension's table data loaded first, in dump
#      order (a plain -j fails: PostgreSQL does not order an extension's
#      table data by foreign keys in a parallel restore; noted, not
#      counted); a plain-format dump through psql; and into a new cluster
#      that first gets the roles from pg_dumpall --roles-only;
#   3. compares every row (md5 of each table in id order), the sequences,
#      the extension's catalog entries (version, config tables, grants on
#      every member object, row-level security and its policies, triggers);
#   4. in the restored database: patients see only their own bookings, the
#      DBA's grant works, the lapsed hold is released by a booking, the live
#      hold and the confirmed booking still refuse (23505), the started slot
#      refuses (PT409), the sweep settles what is left, and new bookings,
#      booking_slots rows, doctors and slots get ids after the old ones --
#      the very ids the source database would hand out next.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $src = 'clinic';
my $node = medreserve_node('source', dbname => $src);
my $dir = PostgreSQL::Test::Utils::tempdir('backup');
my $dump = "$dir/clinic.dump";

# The group roles exist now (CREATE EXTENSION made them); roles are
# cluster-wide, so a restore in this cluster finds them.
$node->safe_psql($src, q{
	CREATE ROLE clinic_frontdesk LOGIN IN ROLE medreserve_admin;
	CREATE ROLE clinic_patient LOGIN IN ROLE medreserve_patient;
	CREATE ROLE clinic_reporting LOGIN;
	GRANT USAGE ON SCHEMA medreserve TO clinic_reporting;
	-- a DBA's own change to an extension member's privileges
	GRANT EXECUTE ON FUNCTION medreserve_stats() TO clinic_reporting;
	GRANT EXECUTE ON FUNCTION medreserve_counters() TO clinic_reporting;

	SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
	SELECT medreserve_add_doctor('Dr Zoë O''Brien', 'dermatology');
	SELECT medreserve_add_doctor('Dr 李 "Quotes" \ Backslash', NULL);
	SELECT (SELECT count(*) FROM medreserve_add_slots(d, date_trunc('hour', now()) + interval '2 days',
	                                                  date_trunc('hour', now()) + interval '2 days 165 minutes'))
	  FROM generate_series(1, 3) d;
	-- a slot that has already started (only a direct insert can make one)
	INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, now() - interval '1 hour');

	-- holds that have lapsed: 8 and 9 stay unswept, 11 is swept, 12 released lazily
	SELECT id FROM medreserve_hold(8, 'Lapsed Unswept', 'lapsed1@example.org');
	SELECT id FROM medreserve_hold(ARRAY[9, 10], 'Lapsed Unswept Two', 'lapsed2@example.org');
	SELECT id FROM medreserve_hold(11, 'Lapsed Swept', 'swept@example.org');
	SELECT id FROM medreserve_hold(12, 'Lapsed Taken Over', 'takenover@example.org');
	UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE status = 'PENDING';});

# the sweep must settle the hold on slot 11 only: it skips rows locked by
# others, so another session locks the other lapsed holds meanwhile
my $locker = $node->background_psql($src);
is($locker->query_safe(q{BEGIN; SELECT count(*) FROM (SELECT id FROM medreserve.bookings
                                                       WHERE slot_id IN (8, 9, 12) FOR UPDATE) l}),
	'3', 'another session locks three lapsed holds');
is($node->safe_psql($src, 'SELECT medreserve_expire()'), '1', 'the sweep skips them and settles the fourth');
$locker->query_safe('ROLLBACK');
$locker->quit;

$node->safe_psql($src, q{
	SELECT id FROM medreserve_book(12, 'Takes Over', 'takes@example.org');      -- hold 4 FAILED lazily
	SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example.org');            -- CONFIRMED
	SELECT id FROM medreserve_book(ARRAY[3, 2], 'Bob Marsh', 'bob@example.org');-- CONFIRMED, two slots
	SELECT id FROM medreserve_confirm((SELECT id FROM medreserve_hold(4, 'Cy Park', 'cy@example.org'))); -- via hold
	SELECT id FROM medreserve_hold(5, 'Di Holt', 'di@example.org');             -- PENDING live
	SELECT id FROM medreserve_hold(ARRAY[13, 14, 15], 'Ed Ng', 'ed@example.org');-- PENDING live, three slots
	SELECT id FROM medreserve_cancel((SELECT id FROM medreserve_book(6, 'Flo Ruiz', 'flo@example.org')));
	SELECT id FROM medreserve_cancel((SELECT id FROM medreserve_hold(7, 'Gus Abe', 'gus@example.org')));
	SELECT id FROM medreserve_book(25, 'Hana Öz ''Quote''', NULL);                -- CONFIRMED, no email
	BEGIN;
	SELECT id FROM medreserve_book(26, 'Rolled Back', 'rb@example.org');        -- uses up an id
	ROLLBACK;});

my $state_kinds = q{CASE WHEN status = 'PENDING' AND expires_at > now() THEN 'PENDING live'
                         WHEN status = 'PENDING' THEN 'PENDING lapsed' ELSE status END};
note 'source bookings: ' . $node->safe_psql($src, qq{
	SELECT string_agg(k || ' ' || n, ', ' ORDER BY k)
	  FROM (SELECT $state_kinds AS k, count(*) AS n FROM medreserve.bookings GROUP BY 1) s});
is($node->safe_psql($src, "SELECT count(DISTINCT $state_kinds) FROM medreserve.bookings"), '5',
	'the source has bookings in all five states (PENDING live and lapsed, CONFIRMED, FAILED, CANCELLED)');

# The state to compare: every row of every table, the sequences, and the
# extension's catalog entries (grants, RLS, policies, triggers, config).
my $state_sql = q{
SELECT 'table ' || t || ': ' || n || ' rows, md5 ' || h
  FROM (SELECT 'doctors' AS t, count(*) AS n, md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) AS h FROM medreserve.doctors x
        UNION ALL SELECT 'slots', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.slots x
        UNION ALL SELECT 'bookings', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.bookings x
        UNION ALL SELECT 'booking_slots', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.id), '')) FROM medreserve.booking_slots x) s
UNION ALL
SELECT * FROM (
SELECT 'sequence ' || s || ': last_value ' || v || ', is_called ' || c FROM (
    SELECT 'doctors_id_seq' AS s, last_value AS v, is_called AS c FROM medreserve.doctors_id_seq
    UNION ALL SELECT 'slots_id_seq', last_value, is_called FROM medreserve.slots_id_seq
    UNION ALL SELECT 'bookings_id_seq', last_value, is_called FROM medreserve.bookings_id_seq
    UNION ALL SELECT 'booking_slots_id_seq', last_value, is_called FROM medreserve.booking_slots_id_seq) q
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion || ' in ' || extnamespace::regnamespace
       || ', config ' || (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(extconfig) c)
       || ', conditions ' || array_to_string(extcondition, ',', '?')
  FROM pg_extension WHERE extname IN ('medreserve', 'btree_gist')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, 'default')
       || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END || ' ' || coalesce(array_to_string(p.proconfig, ','), '')
  FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'medreserve')
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' acl ' || coalesce(c.relacl::text, 'default')
       || ' rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity
  FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'medreserve')
UNION ALL
SELECT 'schema medreserve acl ' || nspacl::text FROM pg_namespace WHERE nspname = 'medreserve'
UNION ALL
SELECT 'policy ' || tablename || '.' || policyname || ' ' || permissive || ' ' || roles::text || ' ' || cmd
       || ' using ' || coalesce(qual, '') || ' check ' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'medreserve'
UNION ALL
SELECT 'trigger ' || tgrelid::regclass || '.' || tgname || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'medreserve.%'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'medreserve'::regnamespace
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid::regclass::text LIKE 'medreserve.%'
ORDER BY 1) o};
my $state_src = $node->safe_psql($src, $state_sql);
note join("\n", grep { /^table / } split /\n/, $state_src);

# run(COMMAND...): [exit status, stderr]
sub run
{
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run(\@_, '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stderr, $stdout);
}

# pg_dump dumps the extension's tables as data only, and warns that bookings
# references itself (rescheduled_from/_to, issue 13): a circular foreign key
# in a --data-only dump.  A self-reference restores (COPY checks the keys at
# the end of the statement, and the restores below are checked), so that one
# warning is noted, not counted; any other fails.
sub known_dump_warnings
{
	my $err = shift;
	my $known = qr/pg_dump: warning: there are circular foreign-key constraints on this table:\npg_dump: detail: bookings\n(?:pg_dump: hint: [^\n]*\n)*/;
	note 'pg_dump warned of the self-referencing foreign keys of bookings (noted, not counted)'
	  if $err =~ $known;
	return $err =~ s/$known//gr;
}

my ($rc, $err) = run('pg_dump', '-Fc', '-d', $node->connstr($src), '-f', $dump);
$err = known_dump_warnings($err);
ok($rc == 0 && $err eq '', 'pg_dump -Fc ran without error or warning') or diag($err);
my (undef, undef, $toc) = run('pg_restore', '-l', $dump);
# every table and sequence the extension registered with
# pg_extension_config_dump (the four booking tables among them)
my $config = $node->safe_psql($src, q{
	SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
	  FROM pg_extension e, unnest(e.extconfig) AS r(oid) JOIN pg_class c ON c.oid = r.oid
	 WHERE e.extname = 'medreserve'});
like($config, qr/^(?=.*\bbookings\b)(?=.*\bbooking_slots\b)(?=.*\bdoctors\b)(?=.*\bslots\b)/,
	'the four booking tables are registered for pg_dump');
is(join(' ', sort map { (split / /)[-2] } grep { /TABLE DATA medreserve|SEQUENCE SET medreserve/ } split /\n/, $toc),
	$config, "the dump has the data of every registered table and sequence ($config)");

sub compare_state
{
	my ($n, $db, $how) = @_;
	is($n->safe_psql($db, $state_sql), $state_src,
		"$how restore into $db: same rows, sequences, grants, RLS, policies, triggers, constraints");
}

sub restore_into
{
	my ($db, $how) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db TEMPLATE template0");
	my $to = $node->connstr($db);
	my ($rc, $err) = (0, '');
	if ($how eq 'serial')
	{
		($rc, $err) = run('pg_restore', '-d', $to, '--exit-on-error', $dump);
	}
	elsif ($how eq 'parallel')
	{
		# pg_restore -j loads TABLE DATA entries in parallel and knows of no
		# order between them, but the extension's tables have foreign keys
		# from the start (CREATE EXTENSION made them).  What works: the
		# medreserve data alone in dump order (pg_dump sorts config tables by
		# their foreign keys), everything else in parallel.
		my @toc = split /\n/, $toc;
		my $ours = qr/^\d+; \d+ \d+ TABLE DATA medreserve /;
		PostgreSQL::Test::Utils::append_to_file("$dir/toc.medreserve", join("\n", grep { /$ours/ } @toc) . "\n");
		PostgreSQL::Test::Utils::append_to_file("$dir/toc.rest", join("\n", grep { !/$ours/ } @toc) . "\n");
		for my $step ([ '--section=pre-data' ], [ '--section=data', '-L', "$dir/toc.medreserve" ],
			[ '--section=data', '-j', '2', '-L', "$dir/toc.rest" ], [ '--section=post-data', '-j', '2' ])
		{
			my ($r, $e) = run('pg_restore', '-d', $to, '--exit-on-error', @$step, $dump);
			($rc, $err) = ($r, $err . $e);
			last if $r;
		}
	}
	else
	{
		my (undef, $e1, $plain) = run('pg_dump', '-Fp', '-d', $node->connstr($src));
		$e1 = known_dump_warnings($e1);
		my ($stdout, $e2) = ('', '');
		IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $to ], '<', \$plain, '>', \$stdout, '2>', \$e2);
		($rc, $err) = ($? >> 8, $e1 . $e2);
	}
	ok($rc == 0 && $err eq '', "$how restore into $db: no error or warning") or diag("exit $rc: $err");
	compare_state($node, $db, $how);
}
restore_into('restored', 'serial');
restore_into('restored_parallel', 'parallel');

# A plain pg_restore -j fails on this dump, because PostgreSQL's parallel
# restore does not order the data of an extension's tables by their foreign
# keys (TimescaleDB documents the same limitation).  Recorded, not counted:
# nothing in the extension can change it.  The workaround above is counted.
$node->safe_psql('postgres', 'CREATE DATABASE restored_naive_j TEMPLATE template0');
($rc, $err) = run('pg_restore', '-d', $node->connstr('restored_naive_j'), '-j', '2', '--exit-on-error', $dump);
note $rc == 0
  ? 'a plain pg_restore -j 2 worked this time (the data happened to load in a good order)'
  : "KNOWN LIMITATION: a plain pg_restore -j 2 fails: "
  . ($err =~ /(violates foreign key constraint "[a-z_]*")/ ? $1 : $err);
restore_into('restored_plain', 'plain');

# A new machine: a fresh cluster gets the roles first (README: the group
# roles are cluster-wide, pg_dumpall --roles-only carries them), then the dump.
my $other = medreserve_node('elsewhere', extension => 0);
my (undef, undef, $roles) = run('pg_dumpall', '--roles-only', '-d', $node->connstr('postgres'));
my ($roles_out, $roles_err) = ('', '');
IPC::Run::run([ 'psql', '-X', '-q', '-d', $other->connstr('postgres') ], '<', \$roles, '>', \$roles_out, '2>', \$roles_err);
$roles_err = join("\n", grep { !/role "[^"]+" already exists/ } split /\n/, $roles_err);
$other->safe_psql('postgres', 'CREATE DATABASE restored_elsewhere');
($rc, $err) = run('pg_restore', '-d', $other->connstr('restored_elsewhere'), '--exit-on-error', $dump);
ok($roles_err eq '' && $rc == 0 && $err eq '',
	'restore into a new cluster (roles from pg_dumpall --roles-only, then pg_restore): no error or warning')
  or diag("roles: $roles_err; restore exit $rc: $err");
compare_state($other, 'restored_elsewhere', 'new cluster');
$other->stop;

# Privileges at work in the restored database, the same as in the source.
sub privileges_of
{
	my $db = shift;
	my $bob = $node->safe_psql($db, "SELECT id FROM medreserve.bookings WHERE patient_name = 'Bob Marsh'");
	my (undef, $out, $err) = $node->psql($db, qq{
		\\set VERBOSITY verbose
		SET ROLE clinic_patient;
		SET request.jwt.claims = '{"email": "ann\@example.org"}';
		SELECT 'patient ann sees bookings: ' || string_agg(patient_name, ',') FROM medreserve.bookings;
		SELECT 'patient ann may cancel bob''s booking: ' || id FROM medreserve_cancel($bob);
		SELECT 'patient ann sees doctors: ' || count(*) FROM medreserve_list_doctors();
		SELECT 'patient ann reads stats: ' || doctors FROM medreserve_stats();
		RESET request.jwt.claims;
		RESET ROLE;
		SET ROLE clinic_reporting;
		SELECT 'reporting reads stats: doctors ' || doctors || ', pending ' || pending_bookings
		       || ', metrics ' || metrics_available FROM medreserve_stats();
		SELECT 'reporting books: ' || id FROM medreserve_book(20, 'Reporting');
		RESET ROLE;
		SET ROLE clinic_frontdesk;
		SELECT 'frontdesk sees bookings: ' || count(*) FROM medreserve.bookings;
		RESET ROLE;}, on_error_stop => 0);
	$err = join("\n", map { s/^psql:\S* //r } grep { !/^LOCATION:/ } split /\n/, $err);
	return "$out\n$err";
}
my $priv_src = privileges_of($src);
my $priv_restored = privileges_of('restored');
is($priv_restored, $priv_src, 'restored: RLS and grants act as in the source');
my $nbookings = $node->safe_psql($src, 'SELECT count(*) FROM medreserve.bookings');
for my $want ('patient ann sees bookings: Ann Lee', 'ERROR:  PT404: booking', 'patient ann sees doctors: 3',
	'ERROR:  42501: permission denied for function medreserve_stats', 'reporting reads stats: doctors 3,',
	'ERROR:  42501: permission denied for function medreserve_book', "frontdesk sees bookings: $nbookings")
{
	ok(index($priv_restored, $want) >= 0, "restored: $want");
}

# The restored clinic works on: states, refusals and ids.
my $next_ids = q{
	SELECT string_agg(CASE WHEN is_called THEN last_value + 1 ELSE last_value END::text, ' ' ORDER BY n)
	  FROM (SELECT 1 AS n, * FROM medreserve.doctors_id_seq UNION ALL
	        SELECT 2, * FROM medreserve.slots_id_seq UNION ALL
	        SELECT 3, * FROM medreserve.bookings_id_seq UNION ALL
	        SELECT 4, * FROM medreserve.booking_slots_id_seq) s};
my $src_next = $node->safe_psql($src, $next_ids);
my ($max_doctor, $max_slot, $max_booking, $max_bs) = split /\|/, $node->safe_psql('restored', q{
	SELECT (SELECT max(id) FROM medreserve.doctors), (SELECT max(id) FROM medreserve.slots),
	       (SELECT max(id) FROM medreserve.bookings), (SELECT max(id) FROM medreserve.booking_slots)});
my $r = 'restored';
my @steps = (
	[ 'a slot under a lapsed hold can be booked (the hold is released lazily)',
		q{SELECT status FROM medreserve_book(8, 'After Restore')}, 'CONFIRMED' ],
	[ 'the lapsed hold is now FAILED',
		q{SELECT status FROM medreserve.bookings WHERE patient_name = 'Lapsed Unswept'}, 'FAILED' ],
	[ 'a slot under a live hold refuses with 23505',
		q{SELECT status FROM medreserve_book(5, 'After Restore')}, '23505: slot 5 is already held' ],
	[ 'a slot of a multi-slot live hold refuses with 23505',
		q{SELECT status FROM medreserve_book(ARRAY[16, 15], 'After Restore')}, '23505: slot 15 is already held' ],
	[ 'a confirmed slot refuses with 23505',
		q{SELECT status FROM medreserve_book(2, 'After Restore')}, '23505: slot 2 is already booked' ],
	[ 'a started slot refuses with PT409',
		q{SELECT status FROM medreserve_book((SELECT max(id) FROM medreserve.slots), 'After Restore')},
		qr/^PT409: slot \d+ has already started$/ ],
	[ q{a cancelled booking's slot is free}, q{SELECT status FROM medreserve_book(6, 'After Restore')}, 'CONFIRMED' ],
	[ 'a live hold can be confirmed',
		q{SELECT status FROM medreserve_confirm((SELECT id FROM medreserve.bookings WHERE patient_name = 'Di Holt'))},
		'CONFIRMED' ],
	[ 'a confirmed booking can be cancelled',
		q{SELECT status FROM medreserve_cancel((SELECT id FROM medreserve.bookings WHERE patient_name = 'Ann Lee'))},
		'CANCELLED' ],
	[ 'a FAILED booking cannot be cancelled (PT409)',
		q{SELECT status FROM medreserve_cancel((SELECT id FROM medreserve.bookings WHERE patient_name = 'Lapsed Swept'))},
		qr/^PT409: booking \d+ cannot be cancelled$/ ],
	[ 'the sweep settles the one lapsed hold left', 'SELECT medreserve_expire()', '1' ],
	[ 'a new booking gets the id after every old one',
		"SELECT id > $max_booking FROM medreserve_book(ARRAY[27, 28], 'New Patient')", 't' ],
	[ 'a new doctor gets the id after every old one',
		"SELECT id > $max_doctor FROM medreserve_add_doctor('Dr New')", 't' ],
	[ 'new slots get ids after every old one',
		"SELECT bool_and(id > $max_slot) FROM medreserve_add_slots(4, now() + interval '3 days', now() + interval '3 days 1 hour')",
		't' ],
	[ 'new booking_slots rows get ids after every old one',
		"SELECT min(id) > $max_bs FROM medreserve.booking_slots WHERE booking_id = (SELECT max(id) FROM medreserve.bookings)",
		't' ]);
for my $step (@steps)
{
	my ($descr, $sql, $want) = @$step;
	my $got = sql_answer($node, $r, $sql);
	if (ref $want) { like($got, $want, "restored: $descr") }
	else { is($got, $want, "restored: $descr") }
}
is($node->safe_psql($r, q{
	SELECT bool_and(n = d) FROM (
	    SELECT count(*) n, count(DISTINCT id) d FROM medreserve.doctors
	    UNION ALL SELECT count(*), count(DISTINCT id) FROM medreserve.slots
	    UNION ALL SELECT count(*), count(DISTINCT id) FROM medreserve.bookings
	    UNION ALL SELECT count(*), count(DISTINCT id) FROM medreserve.booking_slots) x}),
	't', 'restored: no table has a duplicate id');
# the restored sequences went on from where the source's stand
is($node->safe_psql($r, q{
	SELECT (SELECT min(id) FROM medreserve.doctors WHERE name = 'Dr New') || ' ' ||
	       (SELECT min(id) FROM medreserve.slots WHERE doctor_id = 4) || ' ' ||
	       (SELECT min(id) FROM medreserve.bookings WHERE patient_name = 'After Restore') || ' ' ||
	       (SELECT min(bs.id) FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
	         WHERE b.patient_name = 'After Restore')}),
	$src_next, q{the restored database's first new ids are exactly the source's next ids});
invariants_hold($node, $r, 'in the restored database');
table_rules_hold($node, $r, 'in the restored database');
invariants_hold($node, $src, 'in the source');
done_testing();
