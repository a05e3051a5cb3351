# Many clients race for the same few slots; afterwards the tables and what
# each client was told must agree, and nobody may have been told anything
# but success or 23505.
#
# Each round makes a doctor with a few future slots and connects dozens of
# sessions (background_psql), which all wait on an advisory lock that is
# released only once every one of them waits for it.  Rounds come in three
# kinds, in turn:
#   mixed   each client books one slot, or holds one and then confirms it, or
#           books or holds two or three slots listed in random order;
#   multi   every client books or holds two to four slots in random order
#           (where a careless lock order would deadlock);
#   lapsed  as mixed, but every slot starts under a hold that has lapsed, so
#           the winners must release it lazily while three clients run the
#           sweep medreserve_expire() at the same moment.
# What each client was told (its booking id, or the SQLSTATE and message of
# its error) goes into a table, and SQL checks it against the tables.
# Outcomes only, never timings.
#
# Environment: MR_RACE_CLIENTS (40), MR_RACE_SLOTS (5), MR_RACE_ROUNDS (6),
# MR_RACE_SEED (random; printed, so a failing run can be repeated),
# MR_RACE_ISOLATION ("read committed", as PostgREST runs every call).  To
# prove that the checks can fail: MR_RACE_BEFORE_SQL runs once before the
# first round, MR_RACE_AFTER_SQL after each race, before its checks (with
# psql variables :doc and :slots).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $clients   = $ENV{MR_RACE_CLIENTS}   // 40;
my $nslots    = $ENV{MR_RACE_SLOTS}     // 5;
my $rounds    = $ENV{MR_RACE_ROUNDS}    // 6;
my $seed      = $ENV{MR_RACE_SEED}      // (time() % 32768);
my $isolation = $ENV{MR_RACE_ISOLATION} // 'read committed';
srand($seed);
note "race: $clients clients, $nslots slots, $rounds rounds, $isolation, seed $seed";

my $node = medreserve_node('race', conf => "max_connections = " . ($clients + 20) . "\n"
	  . "log_statement = none\n");
my $db = 'postgres';
$node->safe_psql($db, $ENV{MR_RACE_BEFORE_SQL}) if $ENV{MR_RACE_BEFORE_SQL};

# A client waiting longer than this is stuck, and is reported.
my $session_setup = "SET statement_timeout = '30s';\n"
  . "SET default_transaction_isolation = '$isolation';\n"
  . "\\set VERBOSITY verbose\n\\pset fieldsep '|'\n";

sub shuffled { my @a = @_; for (my $i = $#a; $i > 0; $i--) { my $j = int(rand($i + 1)); @a[$i, $j] = @a[$j, $i]; } return @a; }

# The script of one client: what it asks, after the barrier.
sub client_script
{
	my ($n, $kind, $lock_key, @ids) = @_;
	my $ids = join(',', @ids);
	my $sql = "SELECT pg_advisory_lock_shared($lock_key) \\g /dev/null\n"
	  . "SELECT pg_advisory_unlock_shared($lock_key) \\g /dev/null\n";
	if ($kind eq 'book1') { $sql .= "SELECT 'BOOKED', id FROM medreserve_book($ids, 'race client $n');\n" }
	elsif ($kind eq 'bookN') { $sql .= "SELECT 'BOOKED', id FROM medreserve_book(ARRAY[$ids], 'race client $n');\n" }
	elsif ($kind eq 'expire') { $sql .= "SELECT 'EXPIRED', medreserve_expire();\n" }
	else
	{
		my $arg = $kind eq 'hold1' ? $ids : "ARRAY[$ids]";
		$sql .= "SELECT id AS hold_id FROM medreserve_hold($arg, 'race client $n') \\gset\n"
		  . "\\if :{?hold_id}\n\\echo HELD|:hold_id\n"
		  # give the others time to run into the hold before it is confirmed
		  . "SELECT pg_sleep(random() * 0.05) \\g /dev/null\n"
		  . "SELECT 'CONFIRMED', id FROM medreserve_confirm(:hold_id);\n\\endif\n";
	}
	return $sql;
}

sub quote_lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

sub run_round
{
	my ($round, $mode) = @_;
	my $lapsed = $mode eq 'lapsed';
	my $lock_key = 7357000 + $round;
	note "round $round ($mode)";

	my $doc = $node->safe_psql($db,
		"INSERT INTO medreserve.doctors (name) VALUES ('Dr Race $round') RETURNING id");
	my @slot = split /\n/, $node->safe_psql($db,
		"INSERT INTO medreserve.slots (doctor_id, start_time)
		 SELECT $doc, date_trunc('hour', now()) + interval '2 days' + g * interval '15 minutes'
		   FROM generate_series(1, $nslots) g RETURNING id");
	my $slot_array = '{' . join(',', @slot) . '}';
	my $lapsed_holds = 0;
	if ($lapsed)
	{
		# one hold over the first two slots, one hold each on the others; all lapsed
		$node->safe_psql($db, qq{
			SELECT medreserve_hold(ARRAY[$slot[0], $slot[1]], 'lapsed holder');
			SELECT medreserve_hold(s, 'lapsed holder') FROM unnest('$slot_array'::int[]) s
			 WHERE s NOT IN ($slot[0], $slot[1]);
			UPDATE medreserve.bookings SET expires_at = now() - interval '1 second'
			 WHERE slot_id = ANY ('$slot_array') AND status = 'PENDING';});
		$lapsed_holds = $nslots - 1;
	}

	# the barrier: this session holds the lock until every client waits for it
	my $barrier = $node->background_psql($db);
	$barrier->query_safe("SELECT pg_advisory_lock($lock_key)");

	my (@kind, @asked, @session);
	my $expirers = 0;
	for my $n (1 .. $clients)
	{
		my ($kind, @p);
		if ($lapsed && $expirers < 3 && $n % 13 == 0)
		{
			$kind = 'expire';
			$expirers++;
		}
		else
		{
			my $k;
			if ($mode eq 'multi')
			{
				$kind = rand(3) < 2 ? 'bookN' : 'holdN';
				$k = 2 + int(rand(3));
			}
			else
			{
				my $r = int(rand(20));
				($kind, $k) =
				    $r < 8  ? ('book1', 1)
				  : $r < 13 ? ('hold1', 1)
				  : $r < 17 ? ('bookN', 2 + int(rand(2)))
				  :           ('holdN', 2 + int(rand(2)));
			}
			$k = $nslots if $k > $nslots;
			@p = (shuffled(0 .. $nslots - 1))[ 0 .. $k - 1 ];
		}
		my @ids = map { $slot[$_] } @p;
		$kind[$n]  = $kind;
		$asked[$n] = \@ids;
		# each client is its own session; its script is fed to it at once, and
		# it blocks at the barrier
		my $s = $node->background_psql($db, on_error_stop => 0);
		$s->query_safe($session_setup);
		$s->{stdin} .= client_script($n, $kind, $lock_key, @ids) . "\\q\n";
		$s->{run}->pump_nb;
		$session[$n] = $s;
	}

	# release the barrier once all clients wait on it
	ok( $node->poll_query_until($db, qq{
			SELECT count(*) >= $clients FROM pg_locks
			 WHERE locktype = 'advisory' AND NOT granted
			   AND ((classid::bigint << 32) | objid::bigint) = $lock_key}),
		"round $round: all $clients clients wait at the barrier");
	$barrier->query_safe("SELECT pg_advisory_unlock($lock_key)");
	$barrier->quit;

	# gather what each client was told
	my @facts;
	for my $n (1 .. $clients)
	{
		my $s = $session[$n];
		$s->{run}->finish;
		my ($out, $err) = ($s->{stdout}, $s->{stderr});
		my ($booking, $confirmed, $expired, $sqlstate, $message) = ('NULL', 'false', 'NULL', 'NULL', 'NULL');
		$booking = $1 if $out =~ /^(?:BOOKED|HELD)\|(\d+)$/m;
		$confirmed = 'true' if $out =~ /^CONFIRMED\|/m;
		$expired = $1 if $out =~ /^EXPIRED\|(\d+)$/m;
		if ($err =~ /ERROR:  ([0-9A-Z]{5}): ([^\n]*)/)
		{
			($sqlstate, $message) = (quote_lit($1), quote_lit($2));
		}
		elsif ($err =~ /\S/ || $s->{run}->result != 0)
		{
			# no SQLSTATE at all: could not connect, psql died, ...
			($sqlstate, $message) = ("'?????'", quote_lit(substr($err, 0, 300)));
		}
		push @facts, sprintf("(%d, '%s', '{%s}', %s, %s, %s, %s, %s)", $n, $kind[$n],
			join(',', @{ $asked[$n] }), $booking, $confirmed, $expired, $sqlstate, $message);
	}

	# a final sweep settles the lapsed holds no client touched
	my $final_sweep = $lapsed ? $node->safe_psql($db, 'SELECT medreserve_expire()') : 0;
	$node->safe_psql($db, $ENV{MR_RACE_AFTER_SQL},
		extra_params => [ '-v', "doc=$doc", '-v', "slots=$slot_array" ])
	  if $ENV{MR_RACE_AFTER_SQL};

	my $setup = "CREATE TEMP TABLE outcome (client int, kind text, slots int[], booking_id int,
	    confirmed boolean, expired int, sqlstate text, message text);
	INSERT INTO outcome VALUES " . join(",\n", @facts) . ";
	CREATE TEMP VIEW winner AS
	  SELECT * FROM outcome WHERE kind <> 'expire' AND booking_id IS NOT NULL AND sqlstate IS NULL;
	CREATE TEMP VIEW round_booking AS   -- every booking touching this round's slots
	  SELECT b.*, medreserve.booking_is_live(b.status, b.expires_at) AS live
	    FROM medreserve.bookings b
	   WHERE b.slot_id = ANY ('$slot_array')
	      OR b.id IN (SELECT booking_id FROM medreserve.booking_slots WHERE slot_id = ANY ('$slot_array'));\n";

	note $node->safe_psql($db, $setup . qq{
	SELECT format('outcomes: %s won (%s at once, %s by hold and confirm), %s refused %s, %s sweeps settled %s holds',
	              (SELECT count(*) FROM winner),
	              (SELECT count(*) FROM winner WHERE kind LIKE 'book%'),
	              (SELECT count(*) FROM winner WHERE kind LIKE 'hold%'),
	              (SELECT count(*) FROM outcome WHERE sqlstate IS NOT NULL),
	              (SELECT coalesce('(' || string_agg(n || ' x ' || sqlstate, ', ') || ')', '')
	                 FROM (SELECT sqlstate, count(*) AS n FROM outcome
	                        WHERE sqlstate IS NOT NULL GROUP BY sqlstate ORDER BY sqlstate) s),
	              (SELECT count(*) FROM outcome WHERE kind = 'expire'),
	              (SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep)});

	my $checks = $setup . qq{
	SELECT 'every client reported success or an SQLSTATE',
	       (SELECT string_agg(client::text, ', ') FROM outcome
	         WHERE booking_id IS NULL AND sqlstate IS NULL AND expired IS NULL)
	       || CASE WHEN (SELECT count(*) FROM outcome) <> $clients THEN ' (clients missing)' ELSE '' END
	UNION ALL
	SELECT 'every refused client got 23505 and nothing else',
	       (SELECT string_agg(DISTINCT sqlstate || ': ' || message, ' / ')
	          FROM outcome WHERE sqlstate IS NOT NULL AND sqlstate <> '23505')
	UNION ALL
	SELECT 'no deadlock (40P01) and no serialization failure (40001)',
	       (SELECT string_agg(DISTINCT sqlstate || ': ' || message, ' / ')
	          FROM outcome WHERE sqlstate IN ('40P01', '40001'))
	UNION ALL
	SELECT 'every refusal names a slot the client asked for, taken by a winner',
	       (SELECT string_agg(client || ': ' || message, ' / ')
	          FROM outcome o
	         WHERE o.sqlstate = '23505'
	           AND NOT EXISTS (
	                 SELECT FROM winner w
	                  WHERE w.client <> o.client
	                    AND (substring(o.message FROM '^slot (\\d+) is already (?:booked|held)\$'))::int = ANY (w.slots)
	                    AND (substring(o.message FROM '^slot (\\d+) is already (?:booked|held)\$'))::int = ANY (o.slots)))
	UNION ALL
	SELECT 'every hold that was taken was confirmed',
	       (SELECT string_agg(client::text, ', ') FROM outcome
	         WHERE kind LIKE 'hold%' AND booking_id IS NOT NULL AND NOT confirmed)
	UNION ALL
	SELECT 'every winner''s booking exists and is CONFIRMED',
	       (SELECT string_agg(w.client || ': booking ' || w.booking_id || ' is ' || coalesce(b.status, 'missing'), ', ')
	          FROM winner w LEFT JOIN medreserve.bookings b ON b.id = w.booking_id
	         WHERE b.status IS DISTINCT FROM 'CONFIRMED')
	UNION ALL
	SELECT 'every winner''s booking covers exactly the slots it asked for',
	       (SELECT string_agg(w.client || ': asked ' || w.slots::text || ', has ' || coalesce(has::text, '{}'), ', ')
	          FROM winner w
	          LEFT JOIN LATERAL (SELECT array_agg(slot_id ORDER BY slot_id) AS has
	                               FROM medreserve.booking_slots WHERE booking_id = w.booking_id) h ON true
	         WHERE has IS DISTINCT FROM (SELECT array_agg(s ORDER BY s) FROM unnest(w.slots) s))
	UNION ALL
	SELECT 'no slot was won by two clients',
	       (SELECT string_agg('slot ' || s || ' by clients ' || who, ', ')
	          FROM (SELECT s, string_agg(client::text, ' and ') AS who
	                  FROM winner, unnest(slots) s GROUP BY s HAVING count(*) > 1) d)
	UNION ALL
	SELECT 'at most one live booking per slot',
	       (SELECT string_agg('slot ' || s || ': bookings ' || ids, ', ')
	          FROM (SELECT s, string_agg(DISTINCT b.id::text, ' ') AS ids
	                  FROM unnest('$slot_array'::int[]) s
	                  JOIN round_booking b
	                    ON b.live AND (b.slot_id = s OR EXISTS (SELECT FROM medreserve.booking_slots bs
	                                                             WHERE bs.booking_id = b.id AND bs.slot_id = s))
	                 GROUP BY s HAVING count(DISTINCT b.id) > 1) d)
	UNION ALL
	SELECT 'slots won by clients = slots taken, and winners = live bookings',
	       CASE WHEN won_slots <> taken_slots OR winners <> live_bookings
	            THEN format('%s slots won, %s taken; %s winners, %s live bookings',
	                        won_slots, taken_slots, winners, live_bookings) END
	  FROM (SELECT (SELECT coalesce(sum(cardinality(slots)), 0) FROM winner) AS won_slots,
	               (SELECT count(*) FROM medreserve.booking_slots WHERE slot_id = ANY ('$slot_array')) AS taken_slots,
	               (SELECT count(*) FROM winner) AS winners,
	               (SELECT count(*) FROM round_booking WHERE live) AS live_bookings) x
	UNION ALL
	SELECT 'every slot a client wanted alone was taken',
	       (SELECT string_agg(DISTINCT 'slot ' || o.slots[1], ', ')
	          FROM outcome o
	         WHERE o.kind IN ('book1', 'hold1')
	           AND NOT EXISTS (SELECT FROM medreserve.booking_slots WHERE slot_id = o.slots[1]))
	};
	$checks .= qq{
	UNION ALL
	SELECT 'every lapsed hold ended FAILED and holds no slot',
	       (SELECT string_agg('booking ' || id || ' ' || status, ', ')
	          FROM round_booking b
	         WHERE patient_name = 'lapsed holder'
	           AND (status <> 'FAILED' OR EXISTS (SELECT FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id)))
	UNION ALL
	SELECT 'no lapsed hold was settled twice by the sweeps',
	       CASE WHEN (SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep > $lapsed_holds
	            THEN format('sweeps settled %s holds of %s',
	                        (SELECT coalesce(sum(expired), 0) FROM outcome) + $final_sweep, $lapsed_holds) END
	} if $lapsed;
	rows_ok($node, $db, "round $round ($mode)", $checks);
	invariants_hold($node, $db, "after round $round");
}

my @modes = qw(lapsed mixed multi);    # round 1 mixed, 2 multi, 3 lapsed, ...
run_round($_, $modes[ $_ % 3 ]) for 1 .. $rounds;
table_rules_hold($node, $db, 'after the race');
note "seed $seed (MR_RACE_SEED=$seed repeats the clients' choices)";
done_testing();
