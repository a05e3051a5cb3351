# The README's set-up path, run as written (issue 18).
#
# Every ```sh block between <!-- readme-setup: begin --> and
# <!-- readme-setup: end --> in README.md is run, in order, as one bash
# script against a throwaway cluster, so the README cannot drift from the
# product.  Only what a test cannot do on a shared machine is replaced, by
# shell functions defined before the blocks:
#   - apt-get and make: the test command has installed the packages and
#     medreserve already (they print what they skip);
#   - sudo -u postgres CMD: runs CMD as the test's own user (the cluster's
#     owner), keeping PGHOST/PGPORT, which point at the throwaway cluster;
#   - pg_ctlcluster 15 main restart: restarts the throwaway cluster.
# CLINIC (a scratch directory) and PGRST_PORT (a free port) are set for the
# script; the README's blocks default them to /srv/clinic and 3000.
# After the blocks, the test checks what a newcomer would: the booking of
# step 7 is in the table, the sweep job exists, health is ok, timestamps
# come back in the clinic's time zone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $readme = slurp_file("$FindBin::RealBin/../README.md");
my ($setup) = $readme =~ /<!-- readme-setup: begin -->(.*?)<!-- readme-setup: end -->/s;
ok(defined $setup, 'the README marks its set-up path');
my @blocks = $setup =~ /```sh\n(.*?)```/sg;
cmp_ok(scalar @blocks, '>=', 6, 'the set-up path has its shell blocks');

my $node = medreserve_node('readme', preload => 0, extension => 0,
	conf => "listen_addresses = '127.0.0.1'\n");
my $clinic = PostgreSQL::Test::Utils::tempdir();
my $pgrst_port = PostgreSQL::Test::Cluster::get_free_port();
my $top = "$FindBin::RealBin/..";

my $script = <<"PRELUDE";
set -euo pipefail
cd '$top'
export PGHOST='${\ $node->host }' PGPORT='${\ $node->port }' PGUSER="\$(id -un)"
export CLINIC='$clinic' PGRST_PORT='$pgrst_port'
sudo() { if [ "\$1" = -u ]; then shift 2; fi; "\$@"; }
apt-get() { echo "(skipped: apt-get \$*; the test command installed the packages)"; }
make() { echo "(skipped: make \$*; the test command built and installed medreserve)"; }
pg_ctlcluster() { pg_ctl -D '${\ $node->data_dir }' -l '${\ $node->logfile }' -w -m fast restart; }
trap 'kill \$(jobs -p) 2>/dev/null || true' EXIT
PRELUDE
my $n = 0;
for my $block (@blocks)
{
	$n++;
	$script .= "echo '=== README set-up block $n'\n$block\n";
}
$script .= "echo '=== end of the README set-up'\n";

my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'bash', '-c', $script ], '>', \$stdout, '2>', \$stderr);
note("stdout:\n$stdout");
note("stderr:\n$stderr");
ok($ok, 'every block of the set-up path runs without error');
like($stdout, qr/=== end of the README set-up/, 'the script ran to its end');
like($stdout, qr/"status":"CONFIRMED"/, 'step 7 books a slot over HTTP');
like($stdout, qr/"patient_email":"ann\@example.org"/, 'under the patient\'s email from the token');

is($node->safe_psql('clinic', q{SELECT count(*) FROM medreserve.bookings WHERE status = 'CONFIRMED'}),
	'1', 'the booking is in the clinic database');
is($node->safe_psql('clinic', q{SHOW timezone}), 'Europe/Berlin', 'the clinic answers in its time zone');
is($node->safe_psql('clinic', q{SELECT medreserve_health()->>'status'}), 'ok',
	'health is ok (preloaded, sweep scheduled)');
is($node->safe_psql('clinic', q{SELECT count(*) FROM medreserve.slots}), '24',
	'09:00 to 16:40 in 20-minute slots is 24 slots');
is($node->safe_psql('clinic',
		q{SELECT max(start_time + make_interval(mins => duration_minutes))::time FROM medreserve.slots}),
	'17:00:00', 'and the last one ends at 17:00');
invariants_hold($node, 'clinic', 'after the README\'s set-up');
done_testing();
