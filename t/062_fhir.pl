# The Node.js suites of issue 15 (test/fhir/run.sh): every FHIR R4 resource
# medreserve emits, validated by @medplum/core over generated rows, and the
# reference event worker (examples/event-worker) end to end, against a node
# with medreserve preloaded.  Node's TAP output is reported test by test.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $dir = "$FindBin::RealBin/../test/fhir";
plan skip_all => 'node is not installed' unless system('node --version >/dev/null 2>&1') == 0;
plan skip_all => 'the FHIR suite\'s npm packages are not installed: run npm ci in test/fhir and examples/event-worker'
  unless -d "$dir/node_modules" && -d "$FindBin::RealBin/../examples/event-worker/node_modules";
my $node = medreserve_node('fhir', extension => 0);

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGUSER} = (getpwuid($<))[0];
my ($out, $err) = ('', '');
IPC::Run::run([ 'bash', "$dir/run.sh", '--test-reporter=tap' ], '>', \$out, '2>', \$err);
my $rc = $? >> 8;
my $tests = 0;
for my $line (split /\n/, $out)
{
	next unless $line =~ /^(not )?ok \d+ - (.*?)( # SKIP.*)?$/;
	$tests++;
	ok(!$1, $2);
}
ok($tests >= 2, "the FHIR and worker suites ran ($tests tests)") or diag($out . $err);
is($rc, 0, 'node --test passed') or diag($out . $err);
done_testing();
