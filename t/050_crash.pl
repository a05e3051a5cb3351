# What a client was told is committed survives a crash of the whole server,
# and crash recovery leaves no double booking behind.
#
# Each round:
#   1. adds 5 doctors with 60 future slots each (300 slots);
#   2. starts 16 psql clients, each running a few thousand random calls on
#      those slots: book one slot, book 2-3 slots, hold (then mostly
#      confirm), hold for 1 second and abandon, cancel what it just got, run
#      the sweep, list free slots.  Every change runs in an explicit
#      transaction and the client prints "KIND id slots" only after its
#      COMMIT returned;
#   3. mid-run (once at least 150 new bookings exist, plus a random pause)
#      stops the postmaster (SIGSTOP, so it forks nothing more), and
#      SIGKILLs every child and then the postmaster: the whole server dies
#      at once, as in a power cut of the processes (the OS page cache
#      survives: this is not an OS crash);
#   4. starts the node again, which runs crash recovery;
#   5. checks, over what the clients of this and every earlier round were
#      told: every booking a client saw committed exists, in the state the
#      client last saw; no id was handed out twice; live bookings cover
#      exactly the slots asked for; at most one booking per client and crash
#      committed without its client hearing of it; the invariants; amcheck;
#      and that the recovered server still books and still refuses a taken
#      slot.
# Three rounds, so later crashes also recover what earlier ones left.
#
# Environment: MR_CRASH_CLIENTS (16), MR_CRASH_ROUNDS (3), MR_CRASH_OPS
# (3000 calls per client), MR_CRASH_SEED (random; printed), MR_CRASH_CONF
# (more postgresql.conf lines).  To prove the checks can fail,
# MR_CRASH_AFTER_SQL runs after each restart, before the checks (e.g.
# "DELETE FROM medreserve.bookings WHERE id = 7").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $clients = $ENV{MR_CRASH_CLIENTS} // 16;
my $rounds  = $ENV{MR_CRASH_ROUNDS}  // 3;
my $ops     = $ENV{MR_CRASH_OPS}     // 3000;
my $seed    = $ENV{MR_CRASH_SEED}    // (time() % 32768);
my ($doctors, $per_doctor) = (5, 60);
my $db = 'clinic';
note "crash: $clients clients, $rounds rounds, up to $ops calls per client, seed $seed";

my $node = medreserve_node('crash', dbname => $db,
	conf => "log_statement = none\nlog_min_error_statement = panic\nfsync = on\n"
	  . "max_connections = " . ($clients + 10) . "\n" . ($ENV{MR_CRASH_CONF} // '') . "\n");
my $dir = PostgreSQL::Test::Utils::tempdir('crash');

# The psql script of one client.  Every change runs in its own transaction
# and the client echoes a line only after its COMMIT succeeded:
#   BOOK id slots      a booking made CONFIRMED at once
#   HOLD id slots      a hold (PENDING, medreserve.hold_duration = 1h)
#   ABANDON id slots   a hold of 1 second that nobody confirms
#   CONFIRM id         the hold id was confirmed
#   TRYCANCEL id       echoed before trying to cancel id (it may or may not
#                      have happened if no CANCEL line follows)
#   CANCEL id          id was cancelled
# When the server dies, psql ends the script (the connection is lost).
sub client_script
{
	my ($round, $client, $first_doctor, $first_slot) = @_;
	srand($seed * 1000 + $round * 100 + $client);
	my $who = "'crash r$round c$client', 'r${round}c$client\@example.org'";
	my $out = "\\set ON_ERROR_STOP 0\n\\set VERBOSITY terse\n"
	  . "SET medreserve.hold_duration = '1h';\nSET statement_timeout = '30s';\n";
	my $pick = sub {
		my $n = shift;
		my $d = int(rand($doctors));
		my $k = int(rand($per_doctor - $n + 1));
		my @s = map { $first_slot + $d * $per_doctor + $k + $_ } 0 .. $n - 1;
		for (my $i = $n - 1; $i > 0; $i--) { my $j = int(rand($i + 1)); @s[$i, $j] = @s[$j, $i]; }
		return join(',', @s);
	};
	# one statement in its own transaction; on commit, echo the line; the
	# caller closes with $end after what depends on the commit
	my $committed = sub {
		my ($sql, $line) = @_;
		return "BEGIN;\n$sql\n\\if :ERROR\nROLLBACK;\n\\else\nCOMMIT;\n\\if :ERROR\n\\else\n\\echo $line\n";
	};
	my $end = "\\endif\n\\endif\n";
	my $maybe_cancel = sub {
		return '' unless rand() < shift;
		return "\\echo TRYCANCEL :b\n"
		  . $committed->('SELECT 1 AS x FROM medreserve_cancel(:b) \gset', 'CANCEL :b') . $end;
	};
	for (1 .. $ops)
	{
		my $r = rand(100);
		if ($r < 35)    # book one slot
		{
			my $p = $pick->(1);
			$out .= $committed->("SELECT id AS b FROM medreserve_book($p, $who) \\gset", "BOOK :b $p")
			  . $maybe_cancel->(0.3) . $end;
		}
		elsif ($r < 50)    # book 2 or 3 slots
		{
			my $p = $pick->(2 + int(rand(2)));
			$out .= $committed->("SELECT id AS b FROM medreserve_book(ARRAY[$p], $who) \\gset", "BOOK :b $p")
			  . $maybe_cancel->(0.3) . $end;
		}
		elsif ($r < 80)    # hold one or more, then perhaps confirm
		{
			my $n = $r < 68 ? 1 : 2 + int(rand(2));
			my $p = $pick->($n);
			my $arg = $n == 1 ? $p : "ARRAY[$p]";
			$out .= $committed->("SELECT id AS b FROM medreserve_hold($arg, $who) \\gset", "HOLD :b $p");
			$out .= $committed->('SELECT 1 AS x FROM medreserve_confirm(:b) \gset', 'CONFIRM :b') . $end
			  if rand() < 0.7;
			$out .= $maybe_cancel->(0.25) . $end;
		}
		elsif ($r < 92)    # a hold abandoned to lapse after 1 s
		{
			my $p = $pick->(1);
			$out .= $committed->("SET LOCAL medreserve.hold_duration = '1s';\n"
				  . "SELECT id AS b FROM medreserve_hold($p, $who) \\gset", "ABANDON :b $p") . $end;
		}
		elsif ($r < 94)    # the sweep
		{
			$out .= "SELECT medreserve_expire() AS e \\gset\n";
		}
		else               # look around, read-only
		{
			$out .= "SELECT count(*) AS n FROM medreserve_available_slots("
			  . ($first_doctor + int(rand($doctors))) . ", now(), now() + interval '30 days') \\gset\n";
		}
	}
	return $out;
}

# Sorted pids of a process's children.
sub children_of
{
	my $parent = shift;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open my $fh, '<', $stat or next;
		my $line = <$fh>;
		close $fh;
		next unless defined $line && $line =~ /^(\d+) \(.*\) \S (\d+) /s;
		push @kids, $1 if $2 == $parent;
	}
	return sort { $a <=> $b } @kids;
}

my @seen;    # what the clients were told: [round, client, line, kind, id, slots]

sub run_round
{
	my $round = shift;
	note "round $round";
	my ($first_doctor, $first_slot, $nslots) = split /\|/, $node->safe_psql($db, qq{
		WITH d AS (
		    INSERT INTO medreserve.doctors (name, specialization)
		    SELECT 'Dr Crash $round.' || g, 'crash' FROM generate_series(1, $doctors) g RETURNING id),
		s AS (
		    INSERT INTO medreserve.slots (doctor_id, start_time)
		    SELECT d.id, date_trunc('hour', now()) + interval '1 day' + $round * interval '1 day'
		                 + k * interval '15 minutes'
		      FROM d, generate_series(0, $per_doctor - 1) k ORDER BY d.id, k RETURNING id, doctor_id)
		SELECT min(doctor_id), min(id), count(*) FROM s HAVING max(id) - min(id) + 1 = count(*)});
	is($nslots, $doctors * $per_doctor, "round $round: the slots have consecutive ids");
	# one more slot, after the clients' range, for the check after recovery
	my $spare = $node->safe_psql($db, qq{
		INSERT INTO medreserve.slots (doctor_id, start_time)
		VALUES ($first_doctor, date_trunc('hour', now()) + interval '300 days') RETURNING id});

	my $before = $node->safe_psql($db, 'SELECT count(*) FROM medreserve.bookings');
	my @run;
	for my $n (1 .. $clients)
	{
		my $f = "$dir/r${round}c$n";
		PostgreSQL::Test::Utils::append_to_file("$f.sql", client_script($round, $n, $first_doctor, $first_slot));
		push @run, IPC::Run::start([ 'psql', '-X', '-q', '-At', '-d', $node->connstr($db), '-f', "$f.sql" ],
			'>', "$f.out", '2>', "$f.err");
	}

	# let the load build up, then crash mid-run
	$node->poll_query_until($db, "SELECT count(*) - $before >= 150 FROM medreserve.bookings")
	  or diag('fewer than 150 bookings were made');
	usleep(int(rand(2_000_000)));
	my $pm = $node->{_pid};
	kill 'STOP', $pm;    # no new children from here on
	my @kids = children_of($pm);
	# the children first, so none sees its postmaster gone and exits on its own
	kill 'KILL', @kids;
	$node->kill9;
	note "SIGKILL to postmaster $pm and its " . scalar(@kids) . ' children';
	my $alive = 1;
	for (1 .. 300)
	{
		$alive = grep { kill 0, $_ } $pm, @kids;
		last unless $alive;
		usleep(100_000);
	}
	is($alive, 0, "round $round: the postmaster and all its children are dead");

	my $cut = 0;
	for my $h (@run)
	{
		$h->finish;
		$cut++ if $h->result == 2;    # psql: the connection was lost
	}
	cmp_ok($cut, '>=', 1, "round $round: the crash cut off $cut of $clients clients mid-run");

	# restart: crash recovery
	$node->start;
	my $recoveries = () = slurp_file($node->logfile)
	  =~ /database system was not properly shut down; automatic recovery in progress/g;
	is($recoveries, $round, "round $round: the restart ran crash recovery");
	cmp_ok($node->{_pid}, '!=', $pm, "round $round: a new postmaster runs");

	if ($ENV{MR_CRASH_AFTER_SQL})
	{
		note "MR_CRASH_AFTER_SQL: $ENV{MR_CRASH_AFTER_SQL}";
		$node->psql($db, $ENV{MR_CRASH_AFTER_SQL});
	}

	# what the clients were told this round
	for my $n (1 .. $clients)
	{
		my $nr = 0;
		for my $line (split /\n/, slurp_file("$dir/r${round}c$n.out"))
		{
			my ($kind, $id, $slots) = split / /, $line;
			next unless defined $id && $id =~ /^\d+$/;
			push @seen, sprintf("(%d, %d, %d, '%s', %d, '{%s}')", $round, $n, ++$nr, $kind, $id, $slots // '');
		}
	}
	my $seen_sql = 'CREATE TEMP TABLE seen (round int, client int, line int, kind text, id int, slots int[]);'
	  . (@seen ? 'INSERT INTO seen VALUES ' . join(",\n", @seen) . ';' : '');
	note $node->safe_psql($db, $seen_sql . qq{
		SELECT 'this round the clients saw committed: ' || string_agg(n || ' ' || kind, ', ' ORDER BY kind)
		  FROM (SELECT kind, count(*) AS n FROM seen WHERE round = $round GROUP BY kind) k});

	rows_ok($node, $db, "round $round", $seen_sql . q{
	CREATE TEMP VIEW claim AS
	    SELECT s.round, s.client, s.kind, s.id, s.slots,
	           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'CANCEL') AS cancelled,
	           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'TRYCANCEL') AS tried_cancel,
	           EXISTS (SELECT FROM seen c WHERE c.id = s.id AND c.kind = 'CONFIRM') AS confirmed,
	           b.id IS NOT NULL AS present, b.status, b.expires_at, b.slot_id,
	           medreserve.booking_is_live(b.status, b.expires_at) AS live,
	           (SELECT array_agg(bs.slot_id ORDER BY bs.slot_id) FROM medreserve.booking_slots bs
	             WHERE bs.booking_id = s.id) AS has,
	           (SELECT array_agg(x ORDER BY x) FROM unnest(s.slots) x) AS asked
	      FROM seen s LEFT JOIN medreserve.bookings b ON b.id = s.id
	     WHERE s.kind IN ('BOOK', 'HOLD', 'ABANDON');
	SELECT format('all %s bookings clients saw committed are there', count(*)),
	       string_agg(format('r%sc%s %s %s', round, client, kind, id), ', ') FILTER (WHERE NOT present)
	  FROM claim
	UNION ALL
	SELECT 'no booking id was handed to two clients',
	       (SELECT string_agg(id::text, ', ') FROM (SELECT id FROM claim GROUP BY id HAVING count(*) > 1) d)
	UNION ALL
	SELECT format('the %s bookings clients saw cancelled are CANCELLED', count(*)),
	       string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE status IS DISTINCT FROM 'CANCELLED')
	  FROM claim WHERE cancelled
	UNION ALL
	SELECT format('the %s bookings booked or confirmed (and not cancelled) are CONFIRMED', count(*)),
	       string_agg(format('%s %s is %s', kind, id, status), ', ') FILTER (WHERE status IS DISTINCT FROM 'CONFIRMED')
	  FROM claim WHERE NOT tried_cancel AND (kind = 'BOOK' OR (kind = 'HOLD' AND confirmed))
	UNION ALL
	SELECT format('the %s holds neither confirmed nor cancelled are live', count(*)),
	       string_agg(format('%s is %s until %s', id, status, expires_at), ', ') FILTER (WHERE NOT coalesce(live, false))
	  FROM claim WHERE kind = 'HOLD' AND NOT confirmed AND NOT tried_cancel
	UNION ALL
	SELECT format('the %s bookings whose cancel was cut off are CANCELLED or live', count(*)),
	       string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE NOT (status = 'CANCELLED' OR coalesce(live, false)))
	  FROM claim WHERE tried_cancel AND NOT cancelled
	UNION ALL
	SELECT format('the %s abandoned 1-second holds are PENDING or FAILED', count(*)),
	       string_agg(format('%s is %s', id, status), ', ') FILTER (WHERE status NOT IN ('PENDING', 'FAILED') OR status IS NULL)
	  FROM claim WHERE kind = 'ABANDON'
	UNION ALL
	SELECT 'every live booking covers exactly the slots its client asked for, slot_id the earliest',
	       string_agg(format('%s asked %s has %s (slot_id %s)', id, asked, has, slot_id), ', ')
	  FROM claim WHERE live AND (has IS DISTINCT FROM asked OR slot_id <> asked[1])
	UNION ALL
	SELECT 'at most one booking per client and crash committed without its client hearing of it',
	       (SELECT string_agg(format('%s: %s', patient_name, ids), ', ')
	          FROM (SELECT b.patient_name, string_agg(b.id::text, ' ') AS ids
	                  FROM medreserve.bookings b
	                 WHERE b.patient_name LIKE 'crash r% c%'
	                   AND NOT EXISTS (SELECT FROM seen s WHERE s.id = b.id)
	                 GROUP BY b.patient_name HAVING count(*) > 1) d)});
	invariants_hold($node, $db, "after crash $round");
	table_rules_hold($node, $db, "after crash $round");
	btree_indexes_hold($node, $db, "after crash $round");

	# the recovered server still books, and still refuses a taken slot
	my $taken = $node->safe_psql($db, q{
		SELECT bs.slot_id FROM medreserve.booking_slots bs
		  JOIN medreserve.bookings b ON b.id = bs.booking_id
		 WHERE b.status = 'CONFIRMED' ORDER BY bs.slot_id DESC LIMIT 1});
	is($node->safe_psql($db, "SELECT status FROM medreserve_book($spare, 'after crash $round')"),
		'CONFIRMED', "round $round: after recovery a free slot can be booked");
	is(sql_error($node, $db, "SELECT medreserve_book($taken, 'after crash $round')"),
		"23505: slot $taken is already booked", "round $round: after recovery a booked slot is refused with 23505");
}

run_round($_) for 1 .. $rounds;
note "seed $seed (MR_CRASH_SEED=$seed repeats the client scripts; the kill moment varies)";
done_testing();
