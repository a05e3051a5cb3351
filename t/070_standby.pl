# A streaming hot standby serves availability, refuses changes with 25006,
# sees the primary's bookings, and takes over cleanly.
#
# On the standby: medreserve_available_slots, medreserve_list_doctors,
# medreserve_stats and medreserve_health work and agree with the primary; a
# booking, a hold and a cancellation made on the primary show up; a hold that
# lapsed on the primary counts as free on the standby too; every changing
# API call is refused with SQLSTATE 25006 and leaves the standby as it was.
# Finally the standby is promoted: it books, refuses what the primary had
# booked, and hands out ids that clash with none of the primary's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = 'clinic';
my $primary = medreserve_node('primary', dbname => $db, init => { allows_streaming => 1 });
is($primary->safe_psql('postgres', q{
	SELECT current_setting('wal_level') = 'replica' AND current_setting('max_wal_senders')::int > 0
	   AND EXISTS (SELECT FROM pg_hba_file_rules WHERE 'replication' = ANY (database))}),
	't', 'the primary can stream (wal_level, max_wal_senders, pg_hba)');

$primary->safe_psql($db, q{
	SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
	SELECT medreserve_add_doctor('Dr Ben Okafor', 'dermatology');
	SELECT count(*) FROM medreserve_add_slots(1, date_trunc('hour', now()) + interval '1 day',
	                                          date_trunc('hour', now()) + interval '1 day 105 minutes');
	SELECT count(*) FROM medreserve_add_slots(2, date_trunc('hour', now()) + interval '1 day',
	                                          date_trunc('hour', now()) + interval '1 day 105 minutes');
	SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example.org');
	SELECT id FROM medreserve_hold(2, 'Bob Marsh', 'bob@example.org');});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($primary->safe_psql('postgres', 'SELECT state FROM pg_stat_replication'), 'streaming',
	'the standby streams from the primary');

# Read-only API on the standby: same answers as on the primary.
my $reads = q{
	SELECT 'available doctor 1: ' || coalesce(string_agg(id::text, ',' ORDER BY start_time), '') FROM medreserve_available_slots(1);
	SELECT 'available doctor 2: ' || coalesce(string_agg(id::text, ',' ORDER BY start_time), '') FROM medreserve_available_slots(2, now(), now() + interval '30 days');
	SELECT 'doctors: ' || string_agg(name, ',') FROM medreserve_list_doctors();
	SELECT 'dermatology: ' || string_agg(name, ',') FROM medreserve_list_doctors('Dermatology');
	SELECT 'stats: ' || doctors || ' doctors, ' || future_slots || ' slots, ' || free_future_slots || ' free, '
	       || pending_bookings || ' pending, ' || confirmed_bookings || ' confirmed' FROM medreserve_stats();
	SELECT 'health: ' || (medreserve_health() ->> 'overdue_holds');
	SELECT 'bookings: ' || string_agg(id || ' ' || status, ', ' ORDER BY id) FROM medreserve.bookings;};
my $on_standby = $standby->safe_psql($db, $reads);
is($on_standby, $primary->safe_psql($db, $reads),
	'on the standby available_slots, list_doctors, stats and health work and agree with the primary');
note $on_standby;

# Changes made on the primary reach the standby.
my $booked = $primary->safe_psql($db, q{SELECT id FROM medreserve_book(ARRAY[4, 3], 'Cy Park', 'cy@example.org')});
$primary->wait_for_catchup($standby);
is($standby->safe_psql($db, qq{
	SELECT status || ' ' || (SELECT string_agg(slot_id::text, ',' ORDER BY slot_id)
	                           FROM medreserve.booking_slots WHERE booking_id = $booked)
	  FROM medreserve.bookings WHERE id = $booked}),
	'CONFIRMED 3,4', 'a booking made on the primary is visible on the standby');
is($standby->safe_psql($db, 'SELECT count(*) FROM medreserve_available_slots(1) WHERE id IN (3, 4)'),
	'0', 'its slots are no longer available on the standby');
$primary->safe_psql($db, "SELECT medreserve_cancel($booked)");
$primary->wait_for_catchup($standby);
is($standby->safe_psql($db, 'SELECT count(*) FROM medreserve_available_slots(1) WHERE id IN (3, 4)'),
	'2', 'a cancellation on the primary frees the slots on the standby');
# a hold that lapses on the primary (never swept) is free on the standby too
$primary->safe_psql($db, q{
	SELECT medreserve_hold(5, 'Di Holt');
	UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE slot_id = 5;});
$primary->wait_for_catchup($standby);
is($standby->safe_psql($db, q{
	SELECT (SELECT count(*) FROM medreserve_available_slots(1) WHERE id = 5) || ' '
	       || (SELECT status FROM medreserve.bookings WHERE slot_id = 5)}),
	'1 PENDING', 'a hold that lapsed on the primary (still PENDING, unswept) counts as free on the standby');

# Every changing call is refused on the standby with 25006.
my $bookings_md5 = q{SELECT md5(string_agg(b::text, '' ORDER BY id)) FROM medreserve.bookings b};
my $before = $standby->safe_psql($db, $bookings_md5);
my @refusals = (
	[ book => q{SELECT medreserve_book(6, 'Eve Standby')} ],
	[ book_many => q{SELECT medreserve_book(ARRAY[6, 7], 'Eve Standby')} ],
	[ hold => q{SELECT medreserve_hold(6, 'Eve Standby')} ],
	[ hold_many => q{SELECT medreserve_hold(ARRAY[6, 7], 'Eve Standby')} ],
	[ confirm => q{SELECT medreserve_confirm(2)} ],
	[ cancel => q{SELECT medreserve_cancel(1)} ],
	[ expire => q{SELECT medreserve_expire()} ],
	[ book_missing_slot => q{SELECT medreserve_book(4242, 'Eve Standby')} ],
	[ add_doctor => q{SELECT medreserve_add_doctor('Dr Standby')} ],
	[ add_slots => q{SELECT medreserve_add_slots(1, now() + interval '9 days', now() + interval '9 days')} ]);
for my $r (@refusals)
{
	my ($name, $sql) = @$r;
	my $err = sql_error($standby, $db, $sql);
	like($err, qr/^25006: /, "on the standby $name is refused with 25006");
	note "$name: $err";
}
# the counters live in the standby's own shared memory: resetting them is
# no change to the database
my $reset = sql_answer($standby, $db, 'SELECT medreserve_stats_reset()');
ok($reset !~ /^[0-9A-Z]{5}: / || $reset =~ /^25006: /, 'on the standby stats_reset works or is refused with 25006')
  or diag($reset);
is($standby->safe_psql($db, $bookings_md5), $before, q{the refused calls left the standby's bookings as they were});
like(sql_error($primary, $db, "BEGIN READ ONLY;\nSELECT medreserve_book(6, 'Eve ReadOnly')"),
	qr/^25006: /, 'in a read-only transaction on the primary, book is refused with 25006');

# Fail-over: promote the standby; it books on, with no id clash.
my $primary_max = $primary->safe_psql($db, 'SELECT max(id) FROM medreserve.bookings');
$primary->safe_psql($db, q{SELECT medreserve_book(8, 'Late On Primary')});    # the old primary goes on a little
$primary->wait_for_catchup($standby);
$primary->stop;
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby was promoted');
is(sql_answer($standby, $db, q{SELECT status FROM medreserve_book(8, 'After Failover')}),
	'23505: slot 8 is already booked', 'promoted: the slot booked on the primary before fail-over refuses with 23505');
is(sql_answer($standby, $db, q{SELECT status FROM medreserve_book(1, 'After Failover')}),
	'23505: slot 1 is already booked', 'promoted: the confirmed booking of the primary refuses with 23505');
is(sql_answer($standby, $db, q{SELECT status FROM medreserve_book(ARRAY[9, 10], 'After Failover')}),
	'CONFIRMED', 'promoted: a free slot can be booked');
is($standby->safe_psql($db, qq{SELECT max(id) > $primary_max + 1 FROM medreserve.bookings WHERE patient_name = 'After Failover'}),
	't', q{promoted: the new booking's id is after every id the primary used});
is(sql_answer($standby, $db, q{SELECT status FROM medreserve_book(5, 'After Failover')}),
	'CONFIRMED', 'promoted: the lapsed hold is released by a booking');
is(sql_answer($standby, $db, 'SELECT status FROM medreserve_confirm(2)'),
	'CONFIRMED', 'promoted: the live hold can be confirmed');
invariants_hold($standby, $db, 'on the promoted standby');
table_rules_hold($standby, $db, 'on the promoted standby');
unlike(slurp_file($standby->logfile), qr/PANIC|terminated by signal|was terminated by|terminating any other active server processes/,
	q{the standby's log has no crash});
done_testing();
