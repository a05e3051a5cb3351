# The sweep never makes a booker wait for more than one batch (issue 9 §3).
#
# 40,000 lapsed holds, medreserve.expire_batch_size = 200.  A third session
# holds the lock of medreserve.sweep_status, so each sweep stops just before
# its last statement (recording the run), with all its batches done:
#   - medreserve_run_expiry() (the pg_cron job's procedure) has committed
#     every batch: a booker of a slot it settled gets it under a 100 ms
#     lock_timeout;
#   - medreserve_expire() (one transaction) still holds every row it settled:
#     the same booking fails with 55P03.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('sweep');
my $holds = 40000;

# lapsed holds in bulk: one slot each, expired a minute ago
sub make_lapsed_holds
{
	$node->safe_psql('postgres', qq{
        TRUNCATE medreserve.doctors, medreserve.slots, medreserve.bookings,
                 medreserve.booking_slots RESTART IDENTITY CASCADE;
        INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
        INSERT INTO medreserve.slots (doctor_id, start_time)
        SELECT 1, now() + interval '1 day' + i * interval '15 minutes'
          FROM generate_series(1, $holds) i;
        INSERT INTO medreserve.bookings (slot_id, patient_name, status, expires_at,
                                         doctor_id, starts_at, ends_at)
        SELECT id, 'Patient ' || id, 'PENDING', now() - interval '1 minute' + id * interval '1 ms',
               doctor_id, start_time, medreserve.slot_end(start_time, duration_minutes)
          FROM medreserve.slots ORDER BY id;
        INSERT INTO medreserve.booking_slots (booking_id, slot_id)
        SELECT id, slot_id FROM medreserve.bookings;
        SELECT medreserve.refresh_slot_state();  -- the slots' state, as the API keeps it
    });
}

sub sweep_blocked_at_the_end
{
	my ($sweeper, $sql) = @_;
	$sweeper->query_until(qr/sweeping/, "SET medreserve.expire_batch_size = 200;\n\\echo sweeping\n$sql;\n");
	# every batch is done when the sweep waits for the status row
	$node->poll_query_until('postgres', q{
        SELECT count(*) > 0 FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND query ~ 'medreserve_(run_expiry|expire)'});
}

for my $case (['medreserve_run_expiry()', 'CALL medreserve_run_expiry()', 1],
	['medreserve_expire()', 'SELECT medreserve_expire()', 0])
{
	my ($name, $sql, $commits) = @$case;
	make_lapsed_holds();
	my $status_lock = $node->background_psql('postgres');
	$status_lock->query_safe('BEGIN');
	$status_lock->query_safe('SELECT * FROM medreserve.sweep_status FOR UPDATE');
	my $sweeper = $node->background_psql('postgres');
	sweep_blocked_at_the_end($sweeper, $sql);

	# the first slot's hold was settled by the first batch
	my ($rc, $out, $err) = $node->psql('postgres', q{
        SET lock_timeout = '100ms';
        \set VERBOSITY verbose
        SELECT status FROM medreserve_book(1, 'Bea Booker')});
	if ($commits)
	{
		is($out, 'CONFIRMED', "$name: a booker gets a settled slot while the sweep still runs");
	}
	else
	{
		like($err, qr/55P03/, "$name: a booker of a settled slot waits for the whole sweep (55P03)");
	}

	$status_lock->query_safe('COMMIT');
	$status_lock->quit;
	$sweeper->quit;
	is($node->safe_psql('postgres', q{SELECT count(*) FROM medreserve.bookings WHERE status = 'PENDING'}),
		'0', "$name: every lapsed hold was settled");
	is($node->safe_psql('postgres', q{SELECT last_holds_expired FROM medreserve.sweep_status}),
		$holds, "$name: the run is recorded with its count");
	invariants_hold($node, 'postgres', "after $name");
}
done_testing();
