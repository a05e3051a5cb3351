# MedReserveTest: what the TAP tests (t/*.pl) share.
#
#   use FindBin; use lib "$FindBin::RealBin/lib"; use MedReserveTest;
#   my $node = medreserve_node('main', pg_cron => 1);
#   ... the test ...
#   invariants_hold($node, 'postgres', 'after the race');
#
# Nodes are PostgreSQL::Test::Cluster servers of the installation on PATH
# (make installcheck puts the server's bindir first), with medreserve
# preloaded, the time zone UTC and the extension created.
package MedReserveTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(medreserve_node invariants_hold);

# medreserve_node(NAME, OPTIONS): a started node.  Options:
#   pg_cron => 1        preload pg_cron too; cron.database_name is cron_db
#   cron_db => NAME     (default: dbname)
#   dbname  => NAME     database to create the extension in (default postgres)
#   conf    => TEXT     more postgresql.conf lines
#   preload => 0        do not preload medreserve (the library is then loaded
#                       on first use and has no counters)
#   extension => 0      do not create the extension
#   init    => {...}    options for PostgreSQL::Test::Cluster::init
sub medreserve_node
{
	my ($name, %opt) = @_;
	my $dbname = $opt{dbname} // 'postgres';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });

	my @preload;
	push @preload, 'medreserve' if $opt{preload} // 1;
	push @preload, 'pg_cron' if $opt{pg_cron};
	my $conf = "timezone = 'UTC'\n";
	$conf .= "shared_preload_libraries = '" . join(',', @preload) . "'\n" if @preload;
	if ($opt{pg_cron})
	{
		$conf .= "cron.database_name = '" . ($opt{cron_db} // $dbname) . "'\n";
		$conf .= "cron.use_background_workers = on\nmax_worker_processes = 16\n";
	}
	$conf .= $opt{conf} if defined $opt{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;

	$node->safe_psql('postgres', qq{CREATE DATABASE "$dbname"}) if $dbname ne 'postgres';
	$node->safe_psql($dbname, 'CREATE EXTENSION medreserve CASCADE')
	  if $opt{extension} // 1;
	return $node;
}

# invariants_hold(NODE, DBNAME, WHAT): one test that medreserve_verify(),
# the one statement of the tables' invariants, finds no problem.
sub invariants_hold
{
	my ($node, $dbname, $what) = @_;
	my $problems = $node->safe_psql($dbname,
		q{SELECT string_agg(format('%s (booking %s, slot %s)', problem, booking_id, slot_id), '; ')
		    FROM medreserve_verify()});
	is($problems, '', "invariants hold $what");
}

1;
