# The pgTAP suite (test/pgtap/*.sql), run by pg_prove against a node with
# medreserve preloaded, in a database with pgtap and medreserve created.
# Each pgTAP file is one test here; pg_prove's own report is in the log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

plan skip_all => 'pg_prove is not installed (Debian: libtap-parser-sourcehandler-pgtap-perl)'
  unless system('pg_prove --version >/dev/null 2>&1') == 0;
my $node = medreserve_node('pgtap', dbname => 'pgtap', extension => 0);
$node->safe_psql('pgtap', 'SET client_min_messages = warning; CREATE EXTENSION pgtap; CREATE EXTENSION medreserve CASCADE');
my @files = sort glob("$FindBin::RealBin/../test/pgtap/*.sql");
for my $file (@files)
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pg_prove', '-h', $node->host, '-p', $node->port, '-d', 'pgtap', $file ],
		'>', \$out, '2>', \$err);
	my $name = $file =~ s{.*/}{}r;
	ok($? == 0, "pgTAP $name") or diag("$out$err");
	note $out;
}
done_testing();
